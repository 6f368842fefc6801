// Reads the files a person names (configuration, tokens, certificates, profiles): regular files
// only, bounded in size, never waiting on a FIFO or a device.
#pragma once

#include <QByteArray>
#include <QString>
#include <optional>

class RegularFile
{
public:
    // Reads at most maxBytes of the file at path (a caller that wants to know whether the file
    // is larger asks for one byte more than it accepts). Anything but a regular file (a FIFO, a
    // device, a socket, a directory) is refused without waiting for a writer: a single-threaded
    // server reading a FIFO on SIGHUP would otherwise freeze. On failure returns std::nullopt and
    // *error says why in words without the path ("No such file or directory", "it is a FIFO
    // (named pipe), not a regular file").
    static std::optional<QByteArray> read(const QString &path, qint64 maxBytes, QString *error);

    // The one reader of token files, for the server (--token-file, a route's tokenFile) and the
    // client (--token-file) alike, so that a file one side accepts the other reads the same way:
    // the whole file without surrounding white space (the newline `echo` leaves is fine). A
    // file with several lines is refused rather than cut at its first line: it is most likely
    // the wrong file (a key, an .env), and a guessed token fails far from the cause. On failure
    // *error names the path and the reason.
    static std::optional<QString> readSecret(const QString &path, QString *error);
};
