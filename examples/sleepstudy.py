"""Reaction times under sleep deprivation: a random intercept and slope per subject.

Run with ``python examples/sleepstudy.py``.
"""

import pandas as pd

import lmmpy

sleep = lmmpy.datasets.load("sleepstudy")
model = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep, data_name="sleepstudy")
print(model.summary())

print("Random effects of the first subjects (deviations from the average line):")
print(model.ranef["Subject"].head(5).round(2))
print()
print("Their own intercepts and slopes (fixed + random):")
print(model.coef["Subject"].head(5).round(2))
print()

# A subject not in the data gets zero random effects: the population-average line.
new_subject = pd.DataFrame({"Subject": "new", "Days": [0, 5, 9]})
prediction = model.predict(new_subject, allow_new_levels=True)
print("Predicted reaction time (ms) of a new subject:")
print(new_subject.assign(Reaction=prediction.round(1)).to_string(index=False))
