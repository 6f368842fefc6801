#include "keychainentry.h"

#include "keychainvault.h"

SecretVault *towCreateKeychainVault(const QString &service, int timeoutMs)
{
    return new KeychainVault(service, timeoutMs);
}
