"""The simulated Qualys API families, one module each, reached through :mod:`..router`.

Each FO handler takes a :class:`~cvesweep.simulator.api.call.Call` and returns a
:class:`~cvesweep.simulator.replies.Reply` or raises
:class:`~cvesweep.simulator.params.ApiError` for the app to render.
"""
