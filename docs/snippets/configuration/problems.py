from melange.exceptions import ConfigurationError
from melange.settings import load_settings

environment = {
    "MELANGE_BACKEND": "sqs",
    "MELANGE_WORKERS": "many",
    "MELANGE_WORKER": "4",
}
try:
    load_settings(environ=environment)
except ConfigurationError as exc:
    print(exc)  # every wrong variable, one line each
    for problem in exc.problems:  # the same, for a program
        print(problem.setting, repr(problem.value), problem.expected, sep=" | ")
