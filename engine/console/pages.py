"""The console's pages: the URL map. Handlers live in the modules named here, by subject.

Every handler carries its least role (`security.require`), so this table plus those decorators
is the console half of the role matrix:

==========================================  ========  =====================================
URL                                         role      what
==========================================  ========  =====================================
GET  /console/                              viewer    home: today's and this month's figures, what waits
GET  /console/decisions                     viewer    match log (filters, pages)
GET  /console/decisions.csv                 viewer    match log as streamed CSV
GET  /console/decisions/{id}                viewer    decision detail and notice timeline
POST /console/decisions/{id}/approval       operator  approve / reject it while pending
POST /console/notices/{notice_id}/retry     operator  requeue a dead/undelivered notice
GET  /console/firms, /console/firms/{uscc}  viewer    firm search, profile and timeline
GET  /console/clauses, /console/clauses/{}  viewer    clause list and page
POST /console/clauses/{id}/approval         admin     turn 二次确认 on or off
GET  /console/approvals                     viewer    pending decisions (read-only)
POST /console/approvals                     operator  approve / reject pending decisions
GET  /console/stats                         viewer    statistics with SVG charts
GET  /console/stats.csv?table=…             viewer    one statistics table as CSV
GET  /console/audit                         viewer    audit log and chain verdict (all-region accounts)
GET  /console/account                       viewer    the operator's own account and regions
GET  /console/objections                    viewer    firms' objections from their own page
POST /console/firms/{uscc}/revoke-links     operator  stop every page link sent to the firm so far
==========================================  ========  =====================================
"""

from __future__ import annotations

from aiohttp import web

from engine.console import (
    approval_pages,
    clause_pages,
    decision_pages,
    firm_page_pages,
    firm_pages,
    home_pages,
    report_pages,
    stats_pages,
)

routes = web.RouteTableDef()

routes.get("/console/")(home_pages.home_page)

# "decisions.csv" is registered before "{id}" so the export is never read as a decision id.
routes.get("/console/decisions")(decision_pages.decision_list)
routes.get("/console/decisions.csv")(decision_pages.decision_csv)
routes.get(r"/console/decisions/{id:\d+}")(decision_pages.decision_detail)
routes.post(r"/console/decisions/{id:\d+}/approval")(decision_pages.decision_approval)
routes.post("/console/notices/{notice_id}/retry")(decision_pages.notice_retry)
routes.post("/console/notices/{notice_id}/release")(decision_pages.notice_release)
routes.get("/console/firms")(firm_pages.firm_list)
routes.get("/console/firms/{uscc}")(firm_pages.firm_detail)
routes.post("/console/firms/{uscc}/revoke-links")(firm_page_pages.revoke_links)
routes.get("/console/objections")(firm_page_pages.objection_list)
routes.get("/console/clauses")(clause_pages.clause_list)
routes.get("/console/clauses/{clause_id}")(clause_pages.clause_detail)
routes.post("/console/clauses/{clause_id}/approval")(clause_pages.clause_gate)
routes.get("/console/approvals")(approval_pages.approval_list)
routes.post("/console/approvals")(approval_pages.approval_resolve)
routes.get("/console/stats")(stats_pages.stats_page)
routes.get("/console/stats.csv")(stats_pages.stats_csv)
routes.get("/console/audit")(report_pages.audit_page)
routes.get("/console/account")(report_pages.account_page)
