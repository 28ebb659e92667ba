"""A fleet of images planned together, over the planner and the engine.

* :mod:`~pyimage.fleet.load`: the images of FLEET_INPUTS.json with their
  packages' descriptors and bases read;
* :mod:`~pyimage.fleet.groups`: shared layers, their ids and their merges;
* :mod:`~pyimage.fleet.plan`: the next lock of a fleet, from the last one;
* :mod:`~pyimage.fleet.follow`: what one image keeps of its slice of the lock;
* :mod:`~pyimage.fleet.check`: why a lock is not the plan made from it;
* :mod:`~pyimage.fleet.report`: what a fleet's plan shares, and the bytes it stores.

The lock's format is :mod:`pyimage.formats.lock`'s.
"""
