from melange.settings import load_settings

# What a process started as `MELANGE_ENV=local MELANGE_WORKERS=8 python ...` reads:
environment = {"MELANGE_ENV": "local", "MELANGE_WORKERS": "8"}
settings = load_settings(environ=environment)  # without environ=, os.environ

print(settings.backend, settings.endpoint_url, settings.prefix)  # from config/local.env
print(settings.dispatcher.workers * 2)  # from the environment, which wins; an int
