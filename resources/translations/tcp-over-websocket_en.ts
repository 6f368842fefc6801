<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
<context>
    <name>DesktopApp</name>
    <message numerus="yes">
        <source>Stop all tunnels? %n open connection(s) will be closed.</source>
        <translation>
            <numerusform>Stop all tunnels? %n open connection will be closed.</numerusform>
            <numerusform>Stop all tunnels? %n open connections will be closed.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>“%1” carries %n open connection(s).</source>
        <translation>
            <numerusform>“%1” carries %n open connection.</numerusform>
            <numerusform>“%1” carries %n open connections.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>TrayController</name>
    <message numerus="yes">
        <source>%n connection(s)</source>
        <translation>
            <numerusform>%n connection</numerusform>
            <numerusform>%n connections</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1 of %n tunnel(s) on</source>
        <translation>
            <numerusform>%1 of %n tunnel on</numerusform>
            <numerusform>%1 of %n tunnels on</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>TunnelStatus</name>
    <message numerus="yes">
        <source>Active: %n connection(s)</source>
        <translation>
            <numerusform>Active: %n connection</numerusform>
            <numerusform>Active: %n connections</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n datagram(s): </source>
        <translation>
            <numerusform>%n datagram: </numerusform>
            <numerusform>%n datagrams: </numerusform>
        </translation>
    </message>
</context>
<context>
    <name>TunnelsWindow</name>
    <message numerus="yes">
        <source>Imported %n tunnel(s): %1</source>
        <translation>
            <numerusform>Imported %n tunnel: %1</numerusform>
            <numerusform>Imported %n tunnels: %1</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>; needing attention before they can start: %1</source>
        <translation>
            <numerusform>; needing attention before it can start: %1</numerusform>
            <numerusform>; needing attention before they can start: %1</numerusform>
        </translation>
    </message>
</context>
</TS>
