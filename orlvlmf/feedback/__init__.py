"""Preference feedback: which of two frames better achieves the task.

* :mod:`.sampling`  — pairs of frames (next observations) from the offline dataset
  (:mod:`.active`: rounds of pairs the reward ensemble is unsure about);
* :mod:`.backends`  — the ``feedback`` registry kind; a backend turns a query into an answer and
  a cost: ``scripted`` (GT teacher with noise models), ``litellm`` (one chat call at a time);
  :mod:`.prompts`, :mod:`.parsing`, :mod:`.images` say what is asked and how answers are read;
* :mod:`.labeling`  — everything around the backend: which queries are due, the two-stage
  dialogue, concurrency, retries, budget, progress, session rows, store writes;
* :mod:`.store`     — the durable SQLite label store; :mod:`.stage` is the pipeline's ``label`` stage;
* :mod:`.orders`, :mod:`.cost` — both image orders combined; what a labeling run will cost;
* :mod:`.audit`, :mod:`.summary`, :mod:`.gallery` — agreement with GT, store figures, HTML review.

Importing this package imports nothing heavy.
"""
