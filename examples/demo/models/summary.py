import json, os
params = json.load(open(os.environ["SANDRUN_PARAMETERS"]))
summary = {"model": os.environ["SANDRUN_MODEL"] or "(project)", "parameters": params}
json.dump(summary, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "summary.json"), "w"))
print("summary written")
