import os

from django.core.asgi import get_asgi_application

from config.db_timeouts import WEB, timeouts_apply

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
timeouts_apply(WEB)
application = get_asgi_application()
