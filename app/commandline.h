// The command line of tcp-over-websocket: the original Go tool's flags (-listen_ws, -remote_tcp,
// -connect_tcp, ...) and their GNU spellings (--listen-ws, ...), parsed into options.
#pragma once

#include "client/clientoptions.h"
#include "server/serveroptions.h"

#include <QString>
#include <QStringList>
#include <optional>

struct CommandLine
{
    enum class Mode { Server, Client, Check, Help, Version, Tray };

    Mode mode = Mode::Tray;
    ServerOptions server;
    QString serverConfigPath; // --config: the server's options come from this file
    QString logLevel; // --log-level: debug, info, warning, error; empty: default (info)
    ClientOptions client; // also the settings of Mode::Check
    QStringList clientProfiles; // client --profile NAME (repeatable): saved profiles to run
    bool clientAllAutostart = false; // client --all-autostart: every profile marked auto-start
    QString text; // the help or version text for Mode::Help and Mode::Version

    // Parses arguments (arguments[0] is the program). On a usage error returns std::nullopt and
    // one readable line in *error.
    static std::optional<CommandLine> parse(const QStringList &arguments, QString *error);

    static QString usage();
};
