"""Preference feedback: which of two frames better achieves the task.

* :mod:`.sampling`  — pairs of frames (next observations) from the offline dataset;
* :mod:`.backends`  — the ``feedback`` registry kind: ``scripted`` (GT teacher with noise
  models) and ``litellm`` (two-stage VLM queries); :mod:`.prompts`, :mod:`.parsing`, :mod:`.images`;
* :mod:`.store`     — the durable SQLite label store; :mod:`.labeling` ties sampling, store and
  backend together; :mod:`.stage` is the pipeline's ``label`` stage;
* :mod:`.audit`, :mod:`.summary`, :mod:`.gallery` — agreement with GT, store figures, HTML review.

Importing this package imports nothing heavy.
"""
