-- Host roles (one file for both backends). Bits: 1 MX target, 2 implicit-MX target (the
-- domain's own address), 4 name server, 8 web host; 0 = written before roles existed (every
-- role). A domain links to an address through the roles it reached it by; a host record
-- covers the roles it was probed for. Host findings count for a domain only through the roles
-- that concern them (mxray_core::checks::LINK_ROLES): an SMTP finding through a mail link, a
-- DNS-server finding through a name-server link.
ALTER TABLE domain_hosts ADD COLUMN roles BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN roles BIGINT NOT NULL DEFAULT 0;
