#include "connectionsettings.h"

#include "clientoptions.h"
#include "logcategories.h"
#include "net/websocketurl.h"
#include "proxyresolver.h"

std::optional<ConnectionSettings> ConnectionSettings::prepare(const ClientOptions &options,
                                                              QString *error)
{
    const auto tls = TlsPolicy::create(options, error);
    if (!tls)
        return std::nullopt;
    const auto proxy = ProxyResolver::resolve(options.proxy, options.serverUrl, error);
    if (!proxy)
        return std::nullopt;
    return ConnectionSettings {*tls, *proxy};
}

void ConnectionSettings::logListening(const QString &local, const ClientOptions &options) const
{
    qCInfo(lcClient).noquote() << "listening on" << local << "server"
                               << WebSocketUrl::redacted(options.serverUrl) << "via"
                               << ProxyResolver::describe(proxy);
    if (options.insecure)
        qCWarning(lcClient) << "TLS certificate verification is disabled (--insecure)";
}
