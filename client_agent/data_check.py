"""`client-agent check`: the site's data against the catalogue, printed for a person or as JSON."""
from __future__ import annotations

import pyarrow as pa

from client_agent.config import SiteConfig
from fedads.catalog.catalog import Catalog
from fedads.eventlog.check import CheckReport, check_events
from fedads.eventlog.reader import EventLogError, read_events, read_user_features


def check_site(config: SiteConfig, catalog: Catalog, events: pa.Table | None = None) -> CheckReport:
    data = config.site_data()
    source = data.events.name
    if events is None:
        try:
            events = read_events(data.events)
        except EventLogError as exc:
            return CheckReport(source, catalog_version=catalog.version, errors=[str(exc)])
    report = check_events(events, catalog, interaction_only=data.interaction_only,
                          max_unknown_share=config.max_unknown_ad_share, source=source)
    if data.user_features is not None:
        try:
            # The declared columns must be there (a model reading one would find nothing).
            users = read_user_features(data.user_features, data.user_feature_columns or None)
            for name, values in data.public_user_features.items():
                extra = set(users.column(name).to_pylist()) - set(values) - {None, ""}
                if extra:
                    report.warnings.append(f"{data.user_features.name}: public user feature {name!r} has values "
                                           f"outside its declared list, read as unknown: {sorted(extra)[:5]}")
            have = set(users.column("user_id").to_pylist())
            missing = len(set(events.column("user_id").unique().to_pylist()) - have)
            if missing:
                report.warnings.append(f"{data.user_features.name}: {missing} user(s) of the event log have no row")
        except EventLogError as exc:
            report.errors.append(str(exc))
    return report


def render(report: CheckReport) -> str:
    c = report.counts()
    lines = [f"{c['source']}: {c['rows']} impressions, {c['users']} users, {c['clicks']} clicks, "
             f"{c['conversions']} conversions" + (f", {c['time_range'][0]} .. {c['time_range'][1]}"
                                                   if c["time_range"] else ""),
             f"catalogue version {c['catalog_version']}; unknown-ad share {c['unknown_ad_share']:.2%}"]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"error: {e}" for e in report.errors]
    lines.append("ok: the site's data can go online" if report.ok else "refused: fix the errors above")
    return "\n".join(lines)
