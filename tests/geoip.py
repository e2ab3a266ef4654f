"""A tiny GeoIP2 database for the sidebar's country (M8), written by `mmdb-writer` (a dev
dependency) in the same MaxMind DB format the operator's GeoLite2 file has, so the product's
own reader (`geoip2`) reads it as it would the real one. The addresses are documentation
ranges (RFC 5737 / 3849): they name no real person."""

from __future__ import annotations

from pathlib import Path

FRANCE_ADDRESS = "203.0.113.7"
JAPAN_ADDRESS = "2001:db8::17"
UNKNOWN_ADDRESS = "198.51.100.9"


def write_country_db(path: Path, kind: str = "GeoLite2-Country") -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type=kind, languages=["en"],
                        description={"en": "Plug2Support test countries"},
                        ipv4_compatible=True)
    writer.insert_network(IPSet(["203.0.113.0/24"]), {
        "country": {"iso_code": "FR", "names": {"en": "France"}}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {
        "country": {"iso_code": "JP", "names": {"en": "Japan"}}})
    writer.to_db_file(str(path))
    return path
