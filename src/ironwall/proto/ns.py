"""XML namespaces used on the wire, in one place so a typo is a NameError."""

__all__ = [
    "BIND",
    "CLIENT",
    "DELAY",
    "DISCO_INFO",
    "DISCO_ITEMS",
    "PARS",
    "PING",
    "REGISTER",
    "REGISTER_FEATURE",
    "ROSTER",
    "SASL",
    "SASL_CB",
    "SESSION",
    "STANZAS",
    "STREAM",
    "STREAMS",
    "TLS",
    "VERSION",
    "XML",
]

CLIENT = "jabber:client"
STREAM = "http://etherx.jabber.org/streams"
STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
SASL_CB = "urn:xmpp:sasl-cb:0"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"
XML = "http://www.w3.org/XML/1998/namespace"
ROSTER = "jabber:iq:roster"
REGISTER = "jabber:iq:register"
REGISTER_FEATURE = "http://jabber.org/features/iq-register"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
PING = "urn:xmpp:ping"
VERSION = "jabber:iq:version"
DELAY = "urn:xmpp:delay"
PARS = "urn:xmpp:pars:0"
