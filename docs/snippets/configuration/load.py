from melange.settings import load_settings

# What a process started as `MELANGE_ENV=local MELANGE_WORKERS=8 ...` reads:
environment = {"MELANGE_ENV": "local", "MELANGE_WORKERS": "8"}
settings = load_settings(environ=environment)  # without environ=, os.environ

# From config/local.env:
print(settings.backend, settings.endpoint_url, settings.prefix)
# From the environment, which wins over the file; an int:
print(settings.dispatcher.workers * 2)
