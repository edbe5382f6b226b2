"""asyncio forms of butter's event-like objects.

``butter.asyncio.inotify.Inotify_async`` and ``butter.asyncio.fanotify.Fanotify_async``
behave as read-only :class:`asyncio.Queue` objects of events (``get_event()``/``get()``,
``get_event_nowait()`` raising :class:`asyncio.QueueEmpty`, ``qsize()``, ``maxsize``);
``butter.asyncio.eventfd.Eventfd_async``, ``butter.asyncio.signalfd.Signalfd_async`` and
``butter.asyncio.timerfd.Timerfd_async`` give every pending ``wait()`` the same next value.
All read non-blocking descriptors from the event loop's reader callbacks, respect
cancellation, and support ``async for``. Unlike butter 0.13's, they import and work on
Python 3.11 and later.
"""
