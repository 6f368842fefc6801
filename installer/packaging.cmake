# Installing and packaging: the files beside the executable (systemd unit, settings, desktop
# entry, icons, documentation), the platform metadata of the executable, Qt's deployment on
# Windows and macOS, and CPack. Included from the top-level CMakeLists.txt after app/.
#
# Which package a build makes depends on TOW_BUILD_UI:
# - OFF: "tcp-over-websocket-server", for a VPS: the headless binary (no Qt Widgets, no X11),
#   the systemd unit (disabled) and /etc/default/tcp-over-websocket.
# - ON:  "tcp-over-websocket", for a desktop: the same plus the tray app, the .desktop entry and
#   the icons. It Provides, Conflicts with and Replaces the server package: both own
#   /usr/bin/tcp-over-websocket, and the desktop binary runs the server too.
# `cpack -G DEB` (or TGZ) in the build tree makes it; see installer/README.md.

set(TOW_SOURCE_DIR ${PROJECT_SOURCE_DIR})
set(TOW_ICON_SVG ${TOW_SOURCE_DIR}/resources/icons/app/tcp-over-websocket.svg)
set(TOW_ICON_SIZES 16 24 32 48 64 128 256)

if(TOW_BUILD_UI)
    set(TOW_PACKAGE_NAME tcp-over-websocket)
    set(TOW_OTHER_PACKAGE_NAME tcp-over-websocket-server)
else()
    set(TOW_PACKAGE_NAME tcp-over-websocket-server)
    set(TOW_OTHER_PACKAGE_NAME tcp-over-websocket)
endif()
set(TOW_DOC_DIR share/doc/${TOW_PACKAGE_NAME})

# --- Executable metadata -------------------------------------------------------------------------
if(WIN32)
    # Icon and version resource of the .exe.
    set(TOW_WINDOWS_ICON ${TOW_SOURCE_DIR}/resources/windows/tcp-over-websocket.ico)
    configure_file(${TOW_SOURCE_DIR}/resources/windows/tcp-over-websocket.rc.in
                   ${CMAKE_CURRENT_BINARY_DIR}/tcp-over-websocket.rc @ONLY)
    target_sources(tcp-over-websocket PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/tcp-over-websocket.rc)
elseif(APPLE)
    # A menu-bar app bundle (LSUIElement in Info.plist.in) with its .icns made from the committed
    # PNGs by iconutil, which every macOS has.
    set(iconset ${CMAKE_CURRENT_BINARY_DIR}/tcp-over-websocket.iconset)
    set(icns ${CMAKE_CURRENT_BINARY_DIR}/tcp-over-websocket.icns)
    set(iconset_commands)
    foreach(size 16 32 128 256)
        math(EXPR double "${size} * 2")
        foreach(pair "${size}x${size};${size}" "${size}x${size}@2x;${double}")
            list(GET pair 0 name)
            list(GET pair 1 pixels)
            if(pixels IN_LIST TOW_ICON_SIZES)
                list(APPEND iconset_commands COMMAND ${CMAKE_COMMAND} -E copy
                     ${TOW_SOURCE_DIR}/resources/icons/app/tcp-over-websocket-${pixels}.png
                     ${iconset}/icon_${name}.png)
            endif()
        endforeach()
    endforeach()
    add_custom_command(OUTPUT ${icns}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${iconset}
        ${iconset_commands}
        COMMAND iconutil --convert icns --output ${icns} ${iconset}
        DEPENDS ${TOW_ICON_SVG}
        COMMENT "Making the macOS application icon")
    # The rule lives in this directory, the executable in app/: a target here runs it, and the
    # source properties are set in the executable's directory.
    add_custom_target(tow_macos_icon DEPENDS ${icns})
    add_dependencies(tcp-over-websocket tow_macos_icon)
    target_sources(tcp-over-websocket PRIVATE ${icns})
    set_source_files_properties(${icns} TARGET_DIRECTORY tcp-over-websocket PROPERTIES
        GENERATED TRUE MACOSX_PACKAGE_LOCATION Resources)
    set_target_properties(tcp-over-websocket PROPERTIES
        MACOSX_BUNDLE TRUE
        MACOSX_BUNDLE_INFO_PLIST ${TOW_SOURCE_DIR}/resources/macos/Info.plist.in
        MACOSX_BUNDLE_BUNDLE_NAME tcp-over-websocket
        MACOSX_BUNDLE_GUI_IDENTIFIER io.github.tcp-over-websocket
        MACOSX_BUNDLE_ICON_FILE tcp-over-websocket.icns
        MACOSX_BUNDLE_SHORT_VERSION_STRING ${PROJECT_VERSION}
        MACOSX_BUNDLE_BUNDLE_VERSION ${PROJECT_VERSION}
        MACOSX_BUNDLE_COPYRIGHT "MIT License, the tcp-over-websocket authors")
endif()

# --- Files beside the executable -----------------------------------------------------------------
if(NOT APPLE) # the disk image holds the app bundle alone
    install(FILES ${TOW_SOURCE_DIR}/README.md DESTINATION ${TOW_DOC_DIR})
    install(DIRECTORY ${TOW_SOURCE_DIR}/docs DESTINATION ${TOW_DOC_DIR}) # README links docs/*.md
    install(FILES ${TOW_SOURCE_DIR}/LICENSE DESTINATION ${TOW_DOC_DIR} RENAME copyright)
    install(DIRECTORY ${TOW_SOURCE_DIR}/installer/nginx ${TOW_SOURCE_DIR}/installer/examples/
            DESTINATION ${TOW_DOC_DIR}/examples)
endif()

if(UNIX AND NOT APPLE)
    # The Linux packages use the distribution's Qt: no RUNPATH in the installed binary (Debian
    # policy), instead of the $ORIGIN ones qt_standard_project_setup() adds for bundled Qt.
    set_target_properties(tcp-over-websocket PROPERTIES INSTALL_RPATH "")
    foreach(module tcp-over-websocket-tray tcp-over-websocket-keychain)
        if(TARGET ${module})
            set_target_properties(${module} PROPERTIES INSTALL_RPATH "")
        endif()
    endforeach()

    # /usr/lib/systemd/system: systemd's unit path, the same directory as /lib/systemd/system on
    # Debian 12's merged /usr.
    # The template unit tcp-over-websocket@PORT.service runs one more instance on
    # 127.0.0.1:PORT with the same settings otherwise (several instances behind an nginx
    # upstream, installer/examples/nginx-upstream.conf); made from the main unit so that the
    # hardening stays in one place.
    set(unit ${TOW_SOURCE_DIR}/installer/systemd/tcp-over-websocket.service)
    file(READ ${unit} unit_text)
    string(REPLACE "-listen_ws \${LISTEN_WS}" "-listen_ws 127.0.0.1:%i" template_text
           "${unit_text}")
    string(REPLACE "Description=tcp-over-websocket server"
           "Description=tcp-over-websocket server on 127.0.0.1:%i" template_text "${template_text}")
    string(REPLACE "tcp-over-websocket.service/token" "tcp-over-websocket@%i.service/token"
           template_text "${template_text}")
    if(template_text STREQUAL unit_text OR NOT template_text MATCHES "127.0.0.1:%i -remote_tcp")
        message(FATAL_ERROR "installer/packaging.cmake: the template unit could not be made "
                            "from ${unit}: its ExecStart no longer has -listen_ws \${LISTEN_WS}")
    endif()
    file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/systemd/tcp-over-websocket@.service
         CONTENT "${template_text}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${unit})
    install(FILES ${unit} ${CMAKE_CURRENT_BINARY_DIR}/systemd/tcp-over-websocket@.service
            DESTINATION lib/systemd/system)
    # The unit's settings live in /etc even though the prefix is /usr (GNUInstallDirs' rule for
    # the /usr prefix, applied when installing so that the DEB gets /etc/default and a
    # `cmake --install --prefix DIR` gets DIR/etc/default instead of writing to /etc).
    set(defaults ${TOW_SOURCE_DIR}/installer/systemd/tcp-over-websocket.default)
    install(CODE "
        if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
            set(tow_sysconfdir /etc)
        else()
            set(tow_sysconfdir \"\${CMAKE_INSTALL_PREFIX}/etc\")
        endif()
        file(INSTALL DESTINATION \"\${tow_sysconfdir}/default\" TYPE FILE
             RENAME tcp-over-websocket FILES \"${defaults}\")
    ")

    if(TOW_BUILD_UI)
        install(FILES ${TOW_SOURCE_DIR}/resources/linux/tcp-over-websocket.desktop
                DESTINATION share/applications)
        install(FILES ${TOW_ICON_SVG} DESTINATION share/icons/hicolor/scalable/apps)
        foreach(size IN LISTS TOW_ICON_SIZES)
            install(FILES ${TOW_SOURCE_DIR}/resources/icons/app/tcp-over-websocket-${size}.png
                    DESTINATION share/icons/hicolor/${size}x${size}/apps
                    RENAME tcp-over-websocket.png)
        endforeach()
    endif()
endif()

# Qt's libraries and plugins beside the executable, for the Windows and macOS packages (Qt 6.4
# deploys only there; Linux packages depend on the distribution's Qt instead).
if(WIN32 OR APPLE)
    if(Qt6_VERSION VERSION_GREATER_EQUAL 6.5)
        set(deploy_script_option OUTPUT_SCRIPT)
    else()
        set(deploy_script_option FILENAME_VARIABLE)
    endif()
    qt_generate_deploy_app_script(TARGET tcp-over-websocket
        ${deploy_script_option} tow_deploy_script NO_UNSUPPORTED_PLATFORM_ERROR)
    # QtKeychain is not one of Qt's libraries: windeployqt leaves it out, so it goes beside the
    # executable (Windows) or into the bundle's Frameworks (macOS, where the executable's rpath
    # @executable_path/../Frameworks finds it) by itself.
    if(TOW_KEYCHAIN)
        install(IMPORTED_RUNTIME_ARTIFACTS qt6keychain
                RUNTIME DESTINATION bin
                LIBRARY DESTINATION tcp-over-websocket.app/Contents/Frameworks)
    endif()
    install(SCRIPT ${tow_deploy_script})
endif()

# --- CPack ---------------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME ${TOW_PACKAGE_NAME})
set(CPACK_PACKAGE_VENDOR "The tcp-over-websocket authors")
set(CPACK_PACKAGE_CONTACT "The tcp-over-websocket authors <tcp-over-websocket@users.noreply.github.com>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL ${PROJECT_HOMEPAGE_URL})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
# (No semicolons in the text: CPack would read them as list separators.)
if(TOW_BUILD_UI)
    string(CONCAT tow_flavour
        "This package holds the tray app for desktops besides the server and client\n"
        "commands and the systemd unit. tcp-over-websocket-server is the headless build.")
else()
    string(CONCAT tow_flavour
        "This package is the headless build for servers (no Qt Widgets): the server and\n"
        "client commands and a hardened systemd unit, installed disabled.")
endif()
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "SSH, RDP, databases and anything else that speaks TCP cross networks that\n"
    "only let HTTP(S) out: the client accepts TCP connections and carries each in\n"
    "its own WebSocket to the server, which connects to the configured remote.\n"
    "Compatible with the command lines and wire format of trazfr's Go tool, with\n"
    "bounded memory per tunnel and Prometheus metrics.\n" ${tow_flavour})
set(CPACK_RESOURCE_FILE_LICENSE ${TOW_SOURCE_DIR}/LICENSE)
set(CPACK_RESOURCE_FILE_README ${TOW_SOURCE_DIR}/README.md)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_INSTALL_DIRECTORY tcp-over-websocket)
set(CPACK_PACKAGE_EXECUTABLES tcp-over-websocket tcp-over-websocket)

if(WIN32)
    set(CPACK_GENERATOR NSIS ZIP)
elseif(APPLE)
    set(CPACK_GENERATOR DragNDrop)
else()
    set(CPACK_GENERATOR DEB TGZ)
endif()

# DEB: dependencies from dpkg-shlibdeps, which also carries Debian's exact-version pin on Qt
# WebSockets' private ABI (qt6-websockets-abi (= 6.4.2)), so an upgraded Qt cannot break us.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx | apache2 | caddy")
if(TOW_BUILD_UI) # the desktop package does all the server package does
    set(CPACK_DEBIAN_PACKAGE_PROVIDES ${TOW_OTHER_PACKAGE_NAME})
    # The tray icons are SVG, drawn by Qt's SVG icon engine plugin, which is loaded, not linked,
    # so dpkg-shlibdeps cannot see it. Its package: libqt6svg6 on Debian 12, qt6-svg-plugins on
    # Debian 13; asked from dpkg on the build machine.
    set(tow_svg_plugin ${QT6_INSTALL_PREFIX}/${QT6_INSTALL_PLUGINS}/iconengines/libqsvgicon.so)
    find_program(TOW_DPKG_QUERY dpkg-query)
    if(TOW_DPKG_QUERY AND EXISTS ${tow_svg_plugin})
        execute_process(COMMAND ${TOW_DPKG_QUERY} -S ${tow_svg_plugin}
                        OUTPUT_VARIABLE tow_svg_owner OUTPUT_STRIP_TRAILING_WHITESPACE
                        ERROR_QUIET RESULT_VARIABLE tow_svg_result)
        if(tow_svg_result EQUAL 0 AND tow_svg_owner MATCHES "^([^:,]+)")
            set(CPACK_DEBIAN_PACKAGE_DEPENDS ${CMAKE_MATCH_1})
        endif()
    endif()
    # The keychain module links QtKeychain (libqt6keychain1, found by dpkg-shlibdeps), which
    # reaches the Secret Service through libsecret, loaded at run time (dlopen): without it
    # QtKeychain finds no keychain on GNOME-like desktops. Its package (libsecret-1-0 on Debian
    # 12 and 13), asked from dpkg on the build machine.
    if(TOW_KEYCHAIN AND TOW_DPKG_QUERY)
        execute_process(COMMAND ${TOW_DPKG_QUERY} -S "*/libsecret-1.so.0"
                        OUTPUT_VARIABLE tow_secret_owner OUTPUT_STRIP_TRAILING_WHITESPACE
                        ERROR_QUIET RESULT_VARIABLE tow_secret_result)
        if(tow_secret_result EQUAL 0 AND tow_secret_owner MATCHES "^([^:,]+)")
            list(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ${CMAKE_MATCH_1})
            list(JOIN CPACK_DEBIAN_PACKAGE_DEPENDS ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
        else()
            message(WARNING "libsecret-1.so.0 belongs to no installed package: the desktop DEB "
                            "will not depend on libsecret (install libsecret-1-0)")
        endif()
    endif()
endif()
set(CPACK_DEBIAN_PACKAGE_CONFLICTS ${TOW_OTHER_PACKAGE_NAME})
set(CPACK_DEBIAN_PACKAGE_REPLACES ${TOW_OTHER_PACKAGE_NAME})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
foreach(script postinst prerm postrm)
    configure_file(${TOW_SOURCE_DIR}/installer/debian/${script}.in
                   ${CMAKE_CURRENT_BINARY_DIR}/debian/${script} @ONLY
                   FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                                    GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    list(APPEND CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_BINARY_DIR}/debian/${script})
endforeach()
list(APPEND CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${TOW_SOURCE_DIR}/installer/debian/conffiles)

# NSIS (Windows installer).
set(CPACK_NSIS_DISPLAY_NAME tcp-over-websocket)
set(CPACK_NSIS_PACKAGE_NAME tcp-over-websocket)
set(CPACK_NSIS_MUI_ICON ${TOW_SOURCE_DIR}/resources/windows/tcp-over-websocket.ico)
set(CPACK_NSIS_MUI_UNIICON ${TOW_SOURCE_DIR}/resources/windows/tcp-over-websocket.ico)
set(CPACK_NSIS_INSTALLED_ICON_NAME bin/tcp-over-websocket.exe)
set(CPACK_NSIS_URL_INFO_ABOUT ${PROJECT_HOMEPAGE_URL})
set(CPACK_NSIS_HELP_LINK ${PROJECT_HOMEPAGE_URL})
set(CPACK_NSIS_ENABLE_UNINSTALL_BEFORE_INSTALL ON)

# DragNDrop (macOS disk image with the app bundle).
set(CPACK_DMG_VOLUME_NAME tcp-over-websocket)
set(CPACK_DMG_FORMAT UDZO)

include(CPack)
