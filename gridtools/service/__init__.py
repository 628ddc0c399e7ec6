"""HTTP services of gridtools (FastAPI, the ``service`` extra).  Every service starts from
:func:`gridtools.service.factory.new_service` (middleware stack, worker pools, tokens, ``/health``,
offline ``/docs``); the dispatch service is :func:`gridtools.service.app.create_app`, started by
``gridtools dispatch serve``.  See docs/architecture.md, "The services"."""
