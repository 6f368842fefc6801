// The command line of tcp-over-websocket: the original Go tool's flags (-listen_ws, -remote_tcp,
// -connect_tcp, ...) and their GNU spellings (--listen-ws, ...), parsed into options.
#pragma once

#include "client/clientoptions.h"
#include "net/destination.h"
#include "profiles/profile.h"
#include "server/serveroptions.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <optional>

class ProfileStore;

struct CommandLine
{
    enum class Mode { Server, Client, Check, Help, Version, Tray };

    Mode mode = Mode::Tray;
    ServerOptions server;
    QString serverConfigPath; // --config: the server's options come from this file
    QString logLevel; // --log-level: debug, info, warning, error; empty: default (info)
    ClientOptions client; // also the settings of Mode::Check
    // check --destination: what the route is asked to reach (Tow-Destination); none: the route's
    // fixed remote, or the server's refusal that proves the route takes named destinations only.
    std::optional<Destination> checkDestination;
    QStringList clientProfiles; // client --profile NAME (repeatable): saved profiles to run
    bool clientAllAutostart = false; // client --all-autostart: every profile marked auto-start
    QString text; // the help or version text for Mode::Help and Mode::Version

    // Parses arguments (arguments[0] is the program). On a usage error returns std::nullopt and
    // one readable line in *error.
    static std::optional<CommandLine> parse(const QStringList &arguments, QString *error);

    static QString usage();

    // The saved profiles that `client --profile NAME` and `--all-autostart` name, found as the
    // editor compares names (in any case). A named profile that needs attention is an error;
    // --all-autostart skips such profiles and says why in *warnings. On error returns
    // std::nullopt with the reason in *error; *unknownName tells a name that no profile has (a
    // usage error) from the rest.
    std::optional<QList<Profile>> selectProfiles(const ProfileStore &store, QStringList *warnings,
                                                 QString *error, bool *unknownName) const;
};
