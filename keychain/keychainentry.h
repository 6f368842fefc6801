// The keychain module's entry point. On Linux the keychain is a module of its own
// (tcp-over-websocket-keychain.so, in lib/tcp-over-websocket/ beside bin/) that the executable
// loads only for `client --profile`: the server and the other clients never map QtKeychain, Qt
// D-Bus and libdbus. The tray module links the keychain directly. Elsewhere it is linked into the
// executable.
#pragma once

#include <QtGlobal>

class QString;
class SecretVault;

#ifdef TOW_KEYCHAIN_MODULE
#define TOW_KEYCHAIN_ENTRY extern "C" Q_DECL_EXPORT
#else
#define TOW_KEYCHAIN_ENTRY
#endif

// The name the executable resolves in the module.
#define TOW_KEYCHAIN_ENTRY_NAME "towCreateKeychainVault"

// A new KeychainVault; the caller deletes it (through SecretVault's virtual destructor).
TOW_KEYCHAIN_ENTRY SecretVault *towCreateKeychainVault(const QString &service, int timeoutMs);
