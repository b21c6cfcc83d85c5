import json, os
params = json.load(open(os.environ["SANDRUN_PARAMETERS"]))
rate = float(params.get("growth_rate", 0.1))
revenue = [round(100 * (1 + rate) ** year, 2) for year in range(3)]
json.dump(revenue, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "revenue.json"), "w"))
print(f"revenue at growth {rate}: {revenue}")
