"""``shadowgate demo``: real model servers, traffic with delayed labels, a live view.

- ``models``: an Open Inference Protocol v2 server for a scikit-learn model trained at
  start-up (one process per variant, so the demo is real multi-process HTTP);
- ``traffic``: replays held-out rows through the proxy and posts their labels later;
- ``view``: the live terminal view of ``/api/status``;
- ``run``: starts everything, waits for the decision, writes the report.
"""
