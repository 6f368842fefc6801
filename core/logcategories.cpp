#include "logcategories.h"

Q_LOGGING_CATEGORY(lcRelay, "tow.relay", QtInfoMsg)
Q_LOGGING_CATEGORY(lcServer, "tow.server", QtInfoMsg)
Q_LOGGING_CATEGORY(lcClient, "tow.client", QtInfoMsg)
Q_LOGGING_CATEGORY(lcTls, "tow.tls", QtInfoMsg)
Q_LOGGING_CATEGORY(lcProfiles, "tow.profiles", QtInfoMsg)
Q_LOGGING_CATEGORY(lcUi, "tow.ui", QtInfoMsg)
