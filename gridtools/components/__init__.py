"""City management components (城市部件): class table, 16-digit codes, a GeoPackage register, imports.

Every street lamp, manhole cover, road sign and tree gets an ID card: a code, a location, its
grid, the department in charge, the owner and the maintenance unit.

>>> from gridtools.components import load_classes, make_codes
>>> make_codes("320508", ["0118"], [1]).tolist()
['3205080118000001']
"""

from gridtools.components.classes import load_classes, merge_classes
from gridtools.components.codes import make_codes, parse_code
from gridtools.components.importer import ImportResult, import_components, place_in_grids, prepare_components
from gridtools.components.osm import read_osm_components
from gridtools.components.store import ComponentStore, open_store

__all__ = ["ComponentStore", "ImportResult", "open_store", "load_classes", "merge_classes", "make_codes", "parse_code",
           "import_components", "prepare_components", "place_in_grids", "read_osm_components"]
