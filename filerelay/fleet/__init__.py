"""The fleet: agent identity and labels (:mod:`~filerelay.fleet.identity`), which queue a
step goes to (:mod:`~filerelay.fleet.affinity`), and the agent side of the config center
(:mod:`~filerelay.fleet.puller`). The operator side of the config center is
:mod:`filerelay.ops.rollout`; its tables are :mod:`filerelay.store.fleet`."""
