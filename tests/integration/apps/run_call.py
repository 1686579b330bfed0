"""A program that serves by calling uringasgi.run(), as one calls uvicorn.run(), and says when it returns.

Usage: python run_call.py APP --host HOST --port PORT
"""

import sys

import uringasgi

app, _, host, _, port = sys.argv[1:6]
code = uringasgi.run(app, host=host, port=int(port))
print(f"run() returned {code}", flush=True)
