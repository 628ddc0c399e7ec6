"""HTTP services of gridtools (FastAPI, the ``service`` extra).  Dispatch first:
:func:`gridtools.service.app.create_app`, started by ``gridtools dispatch serve``."""
