"""The main window's controllers: each owns one flow between the parts (search, auto-pose, corrections,
the open library) so that the window itself is layout plus wiring."""
