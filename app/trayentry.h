// The tray app's entry point: the QApplication, the single-instance guard, the profile store,
// the tunnel manager and the desktop UI over them, until the user quits.
//
// On Linux it is a module of its own (tcp-over-websocket-tray.so, in lib/tcp-over-websocket/
// beside the executable's bin/) that the executable loads only to run the tray app, so that the
// server and the client never map Qt Widgets, Qt Gui and the libraries behind them: 7 MB of
// resident memory less in each headless process. Elsewhere it is linked into the executable.
#pragma once

#include <QtGlobal>

#ifdef TOW_TRAY_MODULE
#define TOW_TRAY_ENTRY extern "C" Q_DECL_EXPORT
#else
#define TOW_TRAY_ENTRY
#endif

// The name the executable resolves in the module.
#define TOW_TRAY_ENTRY_NAME "towRunTray"

// Returns the exit code. Logging and the application's names are set up by the caller.
TOW_TRAY_ENTRY int towRunTray(int argc, char *argv[]);
