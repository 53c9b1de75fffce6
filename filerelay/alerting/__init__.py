"""Alerting: rules from the ``alerts:`` config section measured against the store, their
instances' states kept in the store, messages sent on the notify channels' code.

``measures`` (what a rule kind measures), ``queries`` (the SQL it measures with), ``repo``
(``AlertStore``: measures, instance states and sends in the store), ``messages`` (what a
send says), ``channels`` (how it is sent), ``evaluator`` (states, suppression, escalation),
``service`` (the loop).
"""
