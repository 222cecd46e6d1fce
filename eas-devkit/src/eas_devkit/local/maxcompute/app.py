"""The local MaxCompute as a WSGI app: the REST API and the tunnel pyodps uses, under ``/api``.

Every request goes through the same steps: authenticate (:mod:`.signature`; every request must be signed),
pick the operation from the path, method and sub-resources (``?downloads``, ``?taskstatus``...), check that
the project exists (``NoSuchProject``), and, with a ``security`` (:mod:`.project_security`), that the caller is
a member of it; ask ``authorize`` whether the caller may perform the operation's RAM action on its resource,
and ``security`` whether the project's grants allow it (``NoPermission`` otherwise), then run it against the
:class:`~.catalog.Catalog`.
An unexpected exception is logged and answered with a 500 ``InternalServerError`` XML, never a traceback.

Supported, as pyodps 0.13.2 calls them:

* metadata: ``GET /api/tenants``, ``GET /api/projects/<p>``, ``GET /api/projects/<p>/tables`` (paged) and
  ``GET /api/projects/<p>/tables/<t>`` (also ``?extended``);
* partitions: ``GET .../tables/<t>?partition=k='v'`` (``exist_partition()``; ``NoSuchPartition`` when absent),
  ``GET .../tables/<t>?partitions`` (``iterate_partitions()``, one page);
* table reads (``table.open_reader()``, ``o.read_table``): ``GET /api/projects/<p>/tunnel?service`` names the
  tunnel endpoint, which is this same server and prefix; ``POST .../tables/<t>?downloads`` opens a session
  (partition, column selection), ``GET .../tables/<t>?downloadid=..&data&rowrange=(s,n)`` streams records;
* table writes (``o.write_table``, ``table.open_writer()``, also ``overwrite=True`` and ``create_partition=True``):
  ``POST ?uploads`` opens a session, ``PUT ?uploadid=..&blockid=N`` sends a block, ``GET ?uploadid=..`` lists
  the blocks and ``POST ?uploadid=..`` commits them (see :mod:`.upload`); RAM action ``odps:Update``;
* SQL: ``POST /api/projects/<p>/instances`` runs the SQL task at once (a query, or the ``ALTER TABLE ...
  ADD|DROP PARTITION`` pyodps's ``create_partition``/``delete_partition`` run, see :mod:`.sql`)
  and answers 201 with a ``Location``. The instance is ``Running`` for ``sql_seconds`` (default 0, or
  ``$LOCAL_MAXCOMPUTE_SQL_SECONDS``: a long query, to try timeouts), then ``Terminated``, its task
  ``Success`` or ``Failed`` with MaxCompute's error text. ``PUT`` of ``<Instance><Status>Terminated``
  (pyodps's ``instance.stop()``) stops a running instance: ``Terminated``, its task ``Cancelled``. Its status,
  task status, result (CSV, the fallback), source (the query as received), detail, summary and progress are
  served, the project's instances listed (``?status=Running|Terminated``), and its result read through the
  instance tunnel (``?downloads``, ``?data``; ``InstanceNotTerminate`` while it runs).
* security statements (``o.run_security_query``, ``o.execute_security_query``): ``POST
  /api/projects/<p>/authorization`` with ``<Authorization><Query>add user ...</Query>
  <ResponseInJsonFormat>true</ResponseInJsonFormat></Authorization>`` answers 200 ``<Authorization><Result>``
  with the statement's JSON result, run at once by :class:`~.project_security.ProjectSecurity` (the statements
  of :mod:`.security_statements`; only with a ``security``).

Anything else answers 501 ``NotImplemented`` (400 on the tunnel, whose 5xx answers pyodps retries for minutes).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.utils import formatdate
from typing import Any, Callable, Optional
from urllib.parse import quote

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ..credentials import LookupSource
from .catalog import Catalog, CatalogError, Column, NotFound, PartitionPlan, Project, QueryResult, TableSchema
from .errors import (
    REQUEST_ID_HEADER,
    XML_CONTENT_TYPE,
    XML_DECLARATION,
    OdpsError,
    SqlError,
    access_denied,
    internal_error,
    invalid_argument,
    method_not_allowed,
    new_request_id,
    no_permission,
    no_such_instance,
    no_such_partition,
    no_such_project,
    no_such_table,
    not_implemented,
    sql_access_denied,
    sql_no_permission,
    tunnel_unsupported,
)
from .project_security import Caller, ProjectSecurity
from .signature import Authenticator, SignedRequest
from .tunnel import (
    DownloadSession,
    SessionRegistry,
    check_encodable,
    compression,
    encode_records,
    parse_row_range,
    schema_document,
)
from .upload import UploadRegistry, UploadSession, check_decodable, decode_block, parse_block_id

log = logging.getLogger("eas_devkit.local.maxcompute")

Authorize = Callable[[str, str, str], bool]
"""``(RAM action, resource, AccessKeyId) -> allowed``, asked after authentication for every request."""

API_PREFIX = "/api"
OWNER = "ALIYUN$local-eas"
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_LIMIT = 1000
MAX_XML_BODY = 1024 * 1024
MAX_INSTANCES = 1000
CSV_RESULT_LIMIT = 10_000  # what MaxCompute's ?result and a limited instance tunnel return at most
NULL_TOKEN = "\\N"
DRAIN_SIZE = 64 * 1024
SQL_SECONDS_VARIABLE = "LOCAL_MAXCOMPUTE_SQL_SECONDS"


def create_maxcompute_app(catalog: Catalog, credentials: LookupSource, region: Optional[str] = None,
                          authorize: Optional[Authorize] = None, *, clock: Callable[[], float] = time.time,
                          instance_tunnel: bool = True, sql_seconds: Optional[float] = None,
                          security: Optional[ProjectSecurity] = None) -> MaxComputeApp:
    """A WSGI app serving ``catalog`` as MaxCompute; pyodps's endpoint is ``<server url>/api``.

    ``credentials`` is anything with ``lookup(access_key_id) -> Optional[IssuedCredentials]`` (the
    ``CredentialIssuer``). ``region`` enables v4 signatures (pyodps signs v4 when given ``region_name``);
    without one, v4 requests are told to fall back to v2, which pyodps does. ``authorize`` decides RAM
    permissions; None allows every authenticated request. ``clock`` is the server's idea of now (credential
    expiry, request-time skew). ``instance_tunnel=False`` answers the instance tunnel with InvalidArgument,
    as an old service does, so pyodps reads SQL results from the CSV ``?result`` instead. ``sql_seconds`` is
    how long each SQL instance runs (None: ``$LOCAL_MAXCOMPUTE_SQL_SECONDS``, else 0). ``security`` holds the
    projects' users and grants and runs security statements; None: no project membership or grant is checked
    (RAM only) and security statements are not implemented.
    """
    if sql_seconds is None:
        sql_seconds = float(os.environ.get(SQL_SECONDS_VARIABLE) or 0)
    return MaxComputeApp(catalog, Authenticator(credentials, region, API_PREFIX, clock), authorize,
                         clock=clock, instance_tunnel=instance_tunnel, sql_seconds=sql_seconds, security=security)


class RequestStats:
    """What the app has seen, without secrets: authenticated requests by AccessKeyId and by signature
    version, and error answers by code. For tests, and for the local EAS to report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_access_key: Counter[str] = Counter()
        self._by_version: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def authenticated(self, access_key_id: str, version: str) -> None:
        with self._lock:
            self._by_access_key[access_key_id] += 1
            self._by_version[version] += 1

    def failed(self, code: str) -> None:
        with self._lock:
            self._errors[code] += 1

    @property
    def by_access_key(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_access_key)

    @property
    def by_signature_version(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_version)

    @property
    def errors(self) -> dict[str, int]:
        with self._lock:
            return dict(self._errors)


@dataclass
class SqlInstance:
    """An instance with one SQL task, run when it was created; it shows as running until ``end_time``."""

    id: str
    project: str
    owner: str
    task_name: str
    job: bytes  # the submitted <Job> element, served back by ?source
    query: str
    start_time: float
    end_time: float
    result: Optional[QueryResult] = None
    error: Optional[str] = None  # the failed task's result text, ODPS-xxxxxxx:...
    cancelled: bool = False  # stopped while it ran
    creator: Optional[str] = None  # the principal who ran it (with a security: it may read its instance)

    def status(self, now: float) -> str:
        return "Terminated" if self.cancelled or now >= self.end_time else "Running"

    def task_status(self, now: float) -> str:
        if self.cancelled:
            return "Cancelled"
        if now < self.end_time:
            return "Running"
        return "Failed" if self.error is not None else "Success"


@dataclass(frozen=True)
class _Call:
    """One authenticated request, parsed: what every handler needs."""

    request: Request
    params: Mapping[str, str]
    access_key_id: str
    project: str
    caller: Optional[Caller] = None  # with a security: who signed

    def resource(self, *path: str) -> str:
        """The RAM resource name: ``acs:odps:*:projects/<p>[/tables/<t>]``."""
        return "/".join([f"acs:odps:*:projects/{self.project}", *path])


class MaxComputeApp:
    """The WSGI callable :func:`create_maxcompute_app` returns; ``catalog`` and ``stats`` are public."""

    def __init__(self, catalog: Catalog, authenticator: Authenticator, authorize: Optional[Authorize] = None, *,
                 clock: Callable[[], float] = time.time, instance_tunnel: bool = True, sql_seconds: float = 0,
                 security: Optional[ProjectSecurity] = None) -> None:
        self.catalog = catalog
        self.authenticator = authenticator
        self.authorize = authorize
        self.security = security
        self.instance_tunnel = instance_tunnel
        self.sql_seconds = sql_seconds
        self.stats = RequestStats()
        self._clock = clock
        self._sessions = SessionRegistry(clock)
        self._uploads = UploadRegistry(clock)
        self._instances: OrderedDict[str, SqlInstance] = OrderedDict()
        self._instances_lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_XML_BODY
        request_id = new_request_id()
        try:
            response = self._dispatch(request)
            response.headers[REQUEST_ID_HEADER] = request_id
        except (OdpsError, CatalogError) as error:
            odps_error = _as_odps_error(error)
            self.stats.failed(odps_error.code)
            response = odps_error.to_response(request_id, request.host)
        except Exception:
            # The path names project, table and instance only; no header (signature, token) is logged.
            log.exception("local MaxCompute: internal error on %s %s (request %s)", request.method, request.path,
                          request_id)
            self.stats.failed("InternalServerError")
            response = internal_error().to_response(request_id, request.host)
        return response(environ, start_response)

    # Routing

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            raise OdpsError(404, "NoSuchObject", f"No MaxCompute API at {path}: the endpoint is "
                                                 f"{request.host_url}{API_PREFIX.lstrip('/')}.")
        headers = {name.lower(): value for name, value in request.headers.items()}
        signed = SignedRequest(request.method, _request_target(request), headers)
        authentication = self.authenticator.authenticate(signed)
        self.stats.authenticated(authentication.access_key_id, authentication.version)
        params = {name: value for name, value in request.args.items()}
        segments = [segment for segment in path[len(API_PREFIX):].split("/") if segment]
        method = request.method

        if segments == ["tenants"]:
            _require_method(method, path, "GET")
            return self._tenant()
        if len(segments) < 2 or segments[0] != "projects":
            raise not_implemented(f"{method} {path}")
        project = self.catalog.get_project(segments[1])
        if project is None:
            raise no_such_project(segments[1])
        caller = self.security.caller(authentication.access_key_id) if self.security is not None else None
        call = _Call(request, params, authentication.access_key_id, project.name, caller)
        rest = segments[2:]
        if rest == ["authorization"]:
            _require_method(method, path, "POST")
            return self._security_query(call)
        if rest == ["logs"] and method == "PUT":
            return _empty(200)  # pyodps uploads usage statistics here; nothing to keep
        self._require_member(call)
        if not rest:
            _require_method(method, path, "GET")
            self._authorize(call, "odps:Read", call.resource())
            return self._project(project, extended="extended" in params)
        if rest == ["tables"]:
            _require_method(method, path, "GET")
            self._authorize(call, "odps:List", call.resource())
            return self._list_tables(call)
        if rest[0] == "tables" and len(rest) == 2:
            return self._route_table(call, method, rest[1].lower())
        if rest == ["tunnel"] and "service" in params:
            _require_method(method, path, "GET")
            return _text(f"{request.host}{API_PREFIX}")
        if rest == ["instances"] and method == "GET":
            self._authorize(call, "odps:List", call.resource())
            return self._list_instances(call)
        if rest == ["instances"]:
            _require_method(method, path, "GET", "POST")
            self._authorize(call, "odps:CreateInstance", call.resource())
            return self._create_instance(call)
        if rest[0] == "instances" and len(rest) == 2:
            return self._route_instance(call, method, rest[1])
        raise not_implemented(f"{method} {path}")

    def _route_table(self, call: _Call, method: str, name: str) -> Response:
        schema = self.catalog.get_table(call.project, name)
        if schema is None:
            raise no_such_table(call.project, name)
        resource = call.resource("tables", schema.name)
        if method == "POST" and "downloads" in call.params:
            self._authorize_download(call, resource)
            return self._create_table_session(call, schema)
        if "uploads" in call.params or "uploadid" in call.params:
            return self._route_upload(call, method, schema, resource)
        _require_method(method, call.request.path, "GET")
        if "downloadid" in call.params:
            self._authorize_download(call, resource)
            session = self._sessions.get(call.params["downloadid"], call.project, table=schema.name)
            if "data" in call.params:
                return self._table_data(call, schema, session)
            return _json(session.to_json())
        if "data" in call.params:  # table.head(): the first rows as CSV
            self._authorize(call, "odps:Select", resource)
            return self._table_head(call, schema)
        self._authorize(call, "odps:Describe", resource)
        if "partitions" in call.params:
            return self._partitions(call, schema)
        if "partition" in call.params:
            return self._partition(call, schema)
        return _xml(self._table_element(schema))

    def _route_upload(self, call: _Call, method: str, schema: TableSchema, resource: str) -> Response:
        if method == "PUT":
            call.request.max_content_length = None  # a block is as large as the client makes it (pyodps: ~20 MiB)
        try:
            self._authorize(call, "odps:Update", resource)
            if "uploads" in call.params:
                _require_method(method, call.request.path, "POST")
                return self._create_upload(call, schema, resource)
            given = call.params.get("partition")
            session = self._uploads.get(call.params["uploadid"], call.project, schema.name,
                                        None if given is None else _partition_spec(given, schema))
            if method == "PUT":
                return self._upload_block(call, session)
            _require_method(method, call.request.path, "GET", "POST")
            if method == "POST":
                with session.commit() as rows:
                    self.catalog.write_rows(session.schema, rows, partition=session.partition or None,
                                            overwrite=session.overwrite)
            return _json(session.to_json())
        finally:
            if method == "PUT":  # read to its end, answered or refused: else the client sees a reset connection
                for _ in iter(lambda: call.request.stream.read(DRAIN_SIZE), b""):
                    pass

    def _route_instance(self, call: _Call, method: str, instance_id: str) -> Response:
        instance = self._instance(call.project, instance_id)
        self._authorize(call, "odps:Read", call.resource("instances", instance.id), creator=instance.creator)
        params = call.params
        if method == "POST" and "downloads" in params:
            return self._create_instance_session(call, instance)
        if method == "PUT":
            return self._stop_instance(call, instance)
        _require_method(method, call.request.path, "GET")
        if "downloadid" in params:
            session = self._sessions.get(params["downloadid"], call.project, instance_id=instance.id)
            if "data" in params:
                return self._instance_data(call, instance, session)
            return _json(session.to_json())
        if "taskstatus" in params:
            return _xml(self._task_status_element(instance))
        if "result" in params:
            return _xml(self._result_element(instance))
        if "source" in params:
            return Response(XML_DECLARATION.encode("utf-8") + instance.job, content_type=XML_CONTENT_TYPE)
        if "instancedetail" in params or "detail" in params:
            return _json(self._detail(instance))
        if "instancesummary" in params:
            return _json({"Instance": {"Summary": "", "JsonSummary": "{}"}})
        if "instanceprogress" in params:
            return _xml(ET.Element("Progress"))
        unknown = sorted(params.keys() - {"curr_project", "curr_schema", "instancestatus"})
        if not unknown:
            return self._instance_status(instance)
        raise not_implemented(f"The instance sub-resource {unknown[0]!r}")

    def _authorize(self, call: _Call, action: str, resource: str, creator: Optional[str] = None) -> None:
        """RAM's decision (``authorize``), then the project's grants (``security``): both must allow."""
        if self.authorize is not None and not self.authorize(action, resource, call.access_key_id):
            raise no_permission(action, resource)
        if self.security is not None and call.caller is not None:
            refusal = self.security.decide(call.project, call.caller, action, resource, creator)
            if refusal is not None:
                raise access_denied(refusal.detail)

    def _require_member(self, call: _Call) -> None:
        """A caller the project does not know is refused whatever it asks (MaxCompute's [4002])."""
        if self.security is not None and call.caller is not None:
            refusal = self.security.member(call.project, call.caller)
            if refusal is not None:
                raise access_denied(refusal.detail)

    def _grants_refusal(self, call: _Call, project: str, action: str, resource: str) -> Optional[str]:
        """Why the project's grants refuse the action to the caller (MaxCompute's text), or None."""
        if self.security is None or call.caller is None:
            return None
        refusal = self.security.decide(project, call.caller, action, resource)
        return refusal.detail if refusal is not None else None

    def _authorize_download(self, call: _Call, resource: str) -> None:
        self._authorize(call, "odps:Download", resource)
        self._authorize(call, "odps:Select", resource)

    # Security statements

    def _security_query(self, call: _Call) -> Response:
        """``run_security_query``: one statement, run at once; its JSON result in ``<Authorization><Result>``."""
        if self.security is None or call.caller is None:
            raise not_implemented("Security statements (this local MaxCompute keeps no project users or grants)")
        try:
            body = call.request.get_data()
        except RequestEntityTooLarge:
            raise OdpsError(413, "InvalidArgument", "The authorization XML is larger than 1 MiB.") from None
        query, json_format = _parse_authorization(body)
        if not json_format:
            raise not_implemented("Security statement results as text (<ResponseInJsonFormat>false)")
        root = ET.Element("Authorization")
        _add(root, "Result", json.dumps(self.security.run(call.project, call.caller, query)))
        return _xml(root)

    # Metadata

    def _tenant(self) -> Response:
        now = int(self._clock())
        return _json({"Tenant": {"Name": "local-eas", "OwnerId": OWNER, "TenantId": "local-eas",
                                 "TenantState": "NORMAL", "CreateTime": now, "UpdateTime": now,
                                 "TenantMeta": "{}", "Parameters": {"odps.namespace.schema": "false"}}})

    @staticmethod
    def _project(project: Project, extended: bool) -> Response:
        root = ET.Element("Project")
        created = _http_date(project.created)
        for tag, text in (("Name", project.name), ("Type", "managed"), ("Comment", project.comment),
                          ("Owner", OWNER), ("State", "AVAILABLE"), ("CreationTime", created),
                          ("LastModifiedTime", created)):
            _add(root, tag, text)
        ET.SubElement(root, "Properties")
        if extended:
            ET.SubElement(root, "ExtendedProperties")
        response = _xml(root)
        # pyodps reads these from the headers, not from the document.
        response.headers["x-odps-owner"] = OWNER
        response.headers["x-odps-creation-time"] = created
        response.headers["Last-Modified"] = created
        return response

    def _list_tables(self, call: _Call) -> Response:
        params = call.params
        max_items = _int_param(params, "maxitems", DEFAULT_MAX_ITEMS, 1, MAX_ITEMS_LIMIT)
        names, marker = self.catalog.list_tables(call.project, prefix=params.get("name", ""),
                                                 marker=params.get("marker", ""), max_items=max_items)
        root = ET.Element("Tables")
        _add(root, "Marker", marker)
        _add(root, "MaxItems", str(max_items))
        for name in names:
            schema = self.catalog.get_table(call.project, name)
            if schema is not None:  # dropped since the page was read
                root.append(self._table_element(schema, with_schema=False))
        return _xml(root)

    def _table_element(self, schema: TableSchema, with_schema: bool = True) -> ET.Element:
        root = ET.Element("Table")
        for tag, text in (("Name", schema.name), ("TableId", f"{schema.table_id:032x}"), ("Owner", OWNER),
                          ("Type", "MANAGED_TABLE"), ("Comment", schema.comment),
                          ("CreationTime", _http_date(schema.created)),
                          ("LastModifiedTime", _http_date(schema.modified))):
            _add(root, tag, text)
        if with_schema:
            document = {
                "tableName": schema.name, "comment": schema.comment, "owner": OWNER,
                "createTime": int(schema.created), "lastModifiedTime": int(schema.modified),
                "lastDDLTime": int(schema.created), "isVirtualView": False, "lifecycle": -1,
                "recordNum": self.catalog.row_count(schema.project, schema.name),
                **schema_document(schema.columns, schema.partitions),
            }
            element = _add(root, "Schema", json.dumps(document))
            element.set("format", "json")
        return root

    def _table_head(self, call: _Call, schema: TableSchema) -> Response:
        """``GET ...?data&linenum=N[&partition=..][&cols=..]``: at most N rows as CSV with a header line."""
        limit = _int_param(call.params, "linenum", CSV_RESULT_LIMIT, 1, CSV_RESULT_LIMIT)
        partition = _partition_spec(call.params.get("partition", ""), schema)
        names = [name.strip() for name in call.params.get("cols", "").split(",") if name.strip()]
        columns = self.catalog.resolve_columns(schema, names)
        rows = list(self.catalog.read_rows(call.project, schema.name, 0, limit,
                                           columns=[column.name for column in columns], partition=partition))
        return Response(_csv(columns, rows), content_type="text/plain; charset=utf-8")

    def _partitions(self, call: _Call, schema: TableSchema) -> Response:
        """``table.iterate_partitions()``: every partition (those under ``?partition=`` when given) on one page."""
        if not schema.partitions:
            raise OdpsError(400, "InvalidArgument", f"Table {schema.project}.{schema.name} is not partitioned.")
        found = self.catalog.list_partitions(schema, _partition_spec(call.params.get("partition", ""), schema))
        if "reverse" in call.params:
            found.reverse()
        root = ET.Element("Partitions")
        _add(root, "Marker", "")
        _add(root, "MaxItems", str(len(found)))
        for partition in found:
            element = ET.SubElement(root, "Partition")
            for key, value in partition.values.items():
                ET.SubElement(element, "Column", Name=key, Value=value)
            for tag in ("CreationTime", "LastDDLTime"):
                _add(element, tag, str(int(partition.created)))
            _add(element, "LastModifiedTime", str(int(schema.modified)))
        return _xml(root)

    def _partition(self, call: _Call, schema: TableSchema) -> Response:
        """``Partition.reload()``: the partition's values and counts, or NoSuchPartition."""
        text = call.params["partition"]
        partition = _partition_spec(text, schema)
        if len(partition) != len(schema.partitions):
            raise OdpsError(400, "InvalidPartitionSpec", f"Invalid partition spec {text!r} for table "
                                                         f"{schema.project}.{schema.name}.")
        found = self.catalog.get_partition(schema, partition)
        if found is None:
            raise no_such_partition(schema.project, schema.name, text)
        root = ET.Element("Partition")
        for key, value in found.values.items():
            ET.SubElement(root, "Column", Name=key, Value=value)
        meta: dict[str, Any] = {
            "createTime": int(found.created), "lastDDLTime": int(found.created),
            "lastModifiedTime": int(schema.modified), "partitionSize": 0,
            "partitionRecordNum": self.catalog.row_count(schema.project, schema.name, partition),
        }
        if "extended" in call.params:
            meta.update({"IsArchived": False, "IsExstore": False, "LifeCycle": -1, "PhysicalSize": 0, "FileNum": 0})
        _add(root, "Schema", json.dumps(meta)).set("format", "json")
        return _xml(root)

    # Table tunnel

    def _create_table_session(self, call: _Call, schema: TableSchema) -> Response:
        partition = _partition_spec(call.params.get("partition", ""), schema)
        if schema.partitions and len(partition) != len(schema.partitions):
            keys = ", ".join(column.name for column in schema.partitions)
            raise OdpsError(400, "InvalidPartitionSpec", "You need to specify a partitionspec along with the "
                                                         f"specified table: {schema.name} is partitioned by {keys}.")
        if partition and self.catalog.get_partition(schema, partition) is None:
            raise no_such_partition(schema.project, schema.name, call.params["partition"])
        count = self.catalog.row_count(call.project, schema.name, partition)
        session = self._sessions.create(call.project, schema.columns, count, partitions=schema.partitions,
                                        table=schema.name, partition=partition)
        return _json(session.to_json(), 201)

    def _table_data(self, call: _Call, schema: TableSchema, session: DownloadSession) -> Response:
        start, count = parse_row_range(call.params.get("rowrange"), session.record_count)
        columns = self._stream_columns(call, session.columns)
        rows = self.catalog.read_rows(call.project, schema.name, start, count,
                                      columns=[column.name for column in columns], partition=session.partition)
        return self._stream(call, columns, rows)

    def _create_upload(self, call: _Call, schema: TableSchema, resource: str) -> Response:
        partition = _partition_spec(call.params.get("partition", ""), schema)
        if schema.partitions and not partition:
            keys = ", ".join(column.name for column in schema.partitions)
            raise OdpsError(400, "MissingPartitionSpec", "You need to specify a partitionspec along with the "
                                                         f"specified table: {schema.name} is partitioned by {keys}.")
        if len(partition) != len(schema.partitions):
            raise OdpsError(400, "InvalidPartitionSpec", f"Invalid partition spec {call.params['partition']!r}: "
                                                         "give the value of every partition key.")
        if partition and self.catalog.get_partition(schema, partition) is None:
            if call.params.get("create_partition", "").lower() != "true":
                raise no_such_partition(schema.project, schema.name, call.params["partition"])
            self._authorize(call, "odps:Alter", resource)
            self.catalog.create_partition(schema, partition)
        check_decodable(schema.columns)
        session = self._uploads.create(schema, partition, overwrite=call.params.get("overwrite", "").lower() == "true")
        return _json(session.to_json(), 201)

    def _upload_block(self, call: _Call, session: UploadSession) -> Response:
        if "arrow" in call.params:
            raise tunnel_unsupported("The Arrow format (write records, or write_table() a list of rows)")
        block_id = parse_block_id(call.params.get("blockid"))
        rows = decode_block(session.schema.columns, call.request.stream, call.request.headers.get("Content-Encoding"))
        session.put_block(block_id, rows)
        return _empty(200)

    # SQL instances

    def _create_instance(self, call: _Call) -> Response:
        try:
            body = call.request.get_data()
        except RequestEntityTooLarge:
            raise OdpsError(413, "InvalidArgument", "The instance XML is larger than 1 MiB.") from None
        job, task_name, query = _parse_job(body)
        now = self._clock()
        instance = SqlInstance(id=_instance_id(now), project=call.project, owner=OWNER, task_name=task_name,
                               job=job, query=query, start_time=now, end_time=now,
                               creator=call.caller.name if call.caller is not None else None)
        try:
            plan = self.catalog.plan(call.project, query)
            action = "odps:Alter" if isinstance(plan, PartitionPlan) else "odps:Select"
            for table in (plan.table,) if isinstance(plan, PartitionPlan) else plan.tables:
                resource = f"acs:odps:*:projects/{table.project}/tables/{table.name}"
                if self.authorize is not None and not self.authorize(action, resource, call.access_key_id):
                    raise sql_no_permission(action, resource)
                refusal = self._grants_refusal(call, table.project, action, resource)
                if refusal is not None:
                    raise sql_access_denied(refusal)
            if isinstance(plan, PartitionPlan):
                self.catalog.alter_partitions(plan)
            else:
                instance.result = self.catalog.run_select(plan)
        except SqlError as error:
            instance.error = "FAILED: " + error.text
        instance.end_time = self._clock() + self.sql_seconds
        with self._instances_lock:
            self._instances[instance.id] = instance
            while len(self._instances) > MAX_INSTANCES:
                self._instances.popitem(last=False)
        api = call.request.host_url.rstrip("/") + API_PREFIX
        return _empty(201, {"Location": f"{api}/projects/{quote(call.project)}/instances/{instance.id}"})

    def _stop_instance(self, call: _Call, instance: SqlInstance) -> Response:
        """``instance.stop()``: ``<Instance><Status>Terminated</Status></Instance>``. A running instance ends now,
        its task ``Cancelled``; one already terminated stays as it is."""
        try:
            requested = ET.fromstring(call.request.get_data()).findtext("Status")
        except (ET.ParseError, RequestEntityTooLarge):
            requested = None
        if requested != "Terminated":
            raise invalid_argument("ODPS-0420031: Invalid XML in HTTP request body - an instance can only be "
                                   "set to <Instance><Status>Terminated</Status></Instance>.")
        now = self._clock()
        with self._instances_lock:
            if instance.status(now) == "Running":
                instance.cancelled = True
                instance.end_time = now
        return _empty(200)

    def _list_instances(self, call: _Call) -> Response:
        """The project's instances kept in memory with the status asked for (default Terminated), on one page."""
        status = call.params.get("status", "Terminated").capitalize()
        now = self._clock()
        with self._instances_lock:
            instances = [instance for instance in self._instances.values()
                         if instance.project == call.project and instance.status(now) == status]
        root = ET.Element("Instances")
        _add(root, "Marker", "")
        _add(root, "MaxItems", str(len(instances)))
        for instance in instances:
            element = ET.SubElement(root, "Instance")
            for tag, text in (("Name", instance.id), ("Owner", instance.owner),
                              ("StartTime", _http_date(instance.start_time)),
                              ("EndTime", _http_date(instance.end_time)), ("Status", status)):
                _add(element, tag, text)
        return _xml(root)

    def _instance(self, project: str, instance_id: str) -> SqlInstance:
        with self._instances_lock:
            instance = self._instances.get(instance_id)
        if instance is None or instance.project != project:
            raise no_such_instance(project, instance_id)
        return instance

    def _instance_status(self, instance: SqlInstance) -> Response:
        root = ET.Element("Instance")
        _add(root, "Status", instance.status(self._clock()))
        response = _xml(root)
        response.headers["x-odps-owner"] = instance.owner
        response.headers["x-odps-start-time"] = _http_date(instance.start_time)
        response.headers["x-odps-end-time"] = _http_date(instance.end_time)
        return response

    def _task_status_element(self, instance: SqlInstance) -> ET.Element:
        now = self._clock()
        root = ET.Element("Instance")
        _add(root, "Status", instance.status(now))
        task = ET.SubElement(ET.SubElement(root, "Tasks"), "Task", Type="SQL")
        _add(task, "Name", instance.task_name)
        _add(task, "StartTime", _http_date(instance.start_time))
        _add(task, "EndTime", _http_date(instance.end_time))
        _add(task, "Status", instance.task_status(now))
        ET.SubElement(task, "Histories")
        return root

    def _result_element(self, instance: SqlInstance) -> ET.Element:
        """The CSV result (at most :data:`CSV_RESULT_LIMIT` rows), or the failed task's error text; nothing from
        an instance that runs or was stopped."""
        root = ET.Element("Instance")
        task = ET.SubElement(ET.SubElement(root, "Tasks"), "Task", Type="SQL")
        _add(task, "Name", instance.task_name)
        task_status = instance.task_status(self._clock())
        _add(task, "Status", task_status)
        if task_status in ("Running", "Cancelled"):
            _add(task, "Result", "").set("Format", "text")
            return root
        if instance.result is None:  # failed, or a DDL statement
            _add(task, "Result", "OK" if instance.error is None else instance.error).set("Format", "text")
            return root
        result = instance.result
        _add(task, "Result", _csv(result.columns, result.rows[:CSV_RESULT_LIMIT])).set("Format", "csv")
        descriptor = {
            "IsSelect": True,
            "SelectResultStatus": "TRUNCATED" if len(result.rows) > CSV_RESULT_LIMIT else "OK",
            "Schema": {"Columns": [{"Name": column.name, "Type": column.type} for column in result.columns]},
        }
        _add(task, "ResultDescriptor", json.dumps(descriptor))
        return root

    def _detail(self, instance: SqlInstance) -> dict[str, Any]:
        now = self._clock()
        return {"Instance": {"Id": instance.id, "Status": instance.status(now)},
                "Tasks": [{"Name": instance.task_name, "Type": "SQL", "Status": instance.task_status(now).upper(),
                           "OutputRecords": len(instance.result.rows) if instance.result else 0}]}

    def _create_instance_session(self, call: _Call, instance: SqlInstance) -> Response:
        if not self.instance_tunnel:
            raise invalid_argument("ODPS-0420061: Invalid parameter in HTTP request - the instance tunnel is "
                                   "disabled on this local MaxCompute; read the result with ?result.")
        if instance.status(self._clock()) == "Running":
            raise OdpsError(400, "InstanceNotTerminate", f"The instance does not terminate - {instance.id}.")
        if instance.result is None or instance.cancelled:
            raise invalid_argument(f"ODPS-0420061: Invalid parameter in HTTP request - instance {instance.id} "
                                   "has no result to download.")
        count = len(instance.result.rows)
        if "instance_tunnel_limit_enabled" in call.params:
            count = min(count, CSV_RESULT_LIMIT)
        session = self._sessions.create(call.project, instance.result.columns, count, instance_id=instance.id)
        return _json(session.to_json(), 201)

    def _instance_data(self, call: _Call, instance: SqlInstance, session: DownloadSession) -> Response:
        assert instance.result is not None  # sessions are only opened on results
        start, count = parse_row_range(call.params.get("rowrange"), session.record_count)
        columns = self._stream_columns(call, session.columns)
        positions = [session.columns.index(column) for column in columns]
        rows = (tuple(row[position] for position in positions) for row in instance.result.rows[start:start + count])
        return self._stream(call, columns, rows)

    # Streams

    @staticmethod
    def _stream_columns(call: _Call, available: tuple[Column, ...]) -> tuple[Column, ...]:
        if "arrow" in call.params:
            raise tunnel_unsupported("The Arrow format (read records: arrow=False)")
        requested = [name.strip().lower() for name in call.params.get("columns", "").split(",") if name.strip()]
        if not requested:
            return available
        by_name = {column.name: column for column in available}
        unknown = [name for name in requested if name not in by_name]
        if unknown:
            raise OdpsError(400, "InvalidColumnSpec", f"Column {unknown[0]!r} is not in the download session.")
        return tuple(by_name[name] for name in requested)

    def _stream(self, call: _Call, columns: tuple[Column, ...], rows: Iterable[tuple[Any, ...]]) -> Response:
        check_encodable(columns)
        compress = compression(call.request.headers.get("Accept-Encoding"))
        response = Response(self._guarded(call, encode_records(columns, rows, compress)),
                            content_type="application/octet-stream", direct_passthrough=True)
        if compress is not None:
            response.headers["Content-Encoding"] = compress.algorithm.get_encoding()
        return response

    @staticmethod
    def _guarded(call: _Call, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks, ending the stream early (pyodps then reports it truncated) if producing one fails."""
        try:
            yield from chunks
        except Exception:
            log.exception("local MaxCompute: tunnel stream failed on %s", call.request.path)


# Helpers


def _as_odps_error(error: Exception) -> OdpsError:
    """Catalog refusals (a table dropped meanwhile, a partition value not of its key's type) as API errors."""
    if isinstance(error, OdpsError):
        return error
    if isinstance(error, NotFound):
        return OdpsError(404, "NoSuchObject", str(error))
    return invalid_argument(str(error))


def _request_target(request: Request) -> str:
    """The request target as it came on the request line (path and query, URL-encoded), which was signed."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _require_method(method: str, path: str, *allowed: str) -> None:
    if method not in allowed:
        raise method_not_allowed(method, path)


def _parse_job(body: bytes) -> tuple[bytes, str, str]:
    """The <Job> element, the SQL task's name and its query, from an instance submission."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise invalid_argument("ODPS-0420031: Invalid XML in HTTP request body - the instance must be "
                               "<Instance><Job>...</Job></Instance>.") from None
    job = root.find("Job") if root.tag == "Instance" else None
    tasks = job.find("Tasks") if job is not None else None
    if job is None or tasks is None or len(tasks) == 0:
        raise invalid_argument("ODPS-0420031: Invalid XML in HTTP request body - the instance has no "
                               "<Job><Tasks>.")
    if len(tasks) > 1:
        raise not_implemented("Instances with several tasks")
    task = tasks[0]
    if task.tag != "SQL":
        raise not_implemented(f"{task.tag} tasks (only SQL tasks run here)")
    name = task.findtext("Name") or "AnonymousSQLTask"
    return ET.tostring(job, encoding="utf-8", xml_declaration=False), name, task.findtext("Query") or ""


def _parse_authorization(body: bytes) -> tuple[str, bool]:
    """The statement and whether the result is wanted as JSON, from ``<Authorization><Query>...</Query>
    <ResponseInJsonFormat>true</ResponseInJsonFormat></Authorization>``."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        root = None
    query = root.findtext("Query") if root is not None and root.tag == "Authorization" else None
    if not query or not query.strip():
        raise invalid_argument("ODPS-0420031: Invalid XML in HTTP request body - a security statement is "
                               "<Authorization><Query>...</Query></Authorization>.")
    json_format = (root.findtext("ResponseInJsonFormat") or "true").strip().lower() != "false"
    return query.strip(), json_format


def _instance_id(now: float) -> str:
    """``20240131120000123gabcdef1234``: the shape of MaxCompute instance ids (time, then random)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    return f"{stamp}{int(now * 1000) % 1000:03d}g{secrets.token_hex(5)}"


def _partition_spec(text: str, schema: TableSchema) -> dict[str, str]:
    """``ds=2024-01-01,region=cn`` (as pyodps sends it, quotes removed) -> checked {key: value}."""
    spec: dict[str, str] = {}
    for part in (part.strip() for part in text.split(",") if part.strip()):
        key, equals, value = part.partition("=")
        key = key.strip().lower()
        if not equals or not schema.is_partition(key):
            raise OdpsError(400, "InvalidPartitionSpec", f"Invalid partition spec {text!r} for table "
                                                         f"{schema.project}.{schema.name}.")
        spec[key] = value.strip().strip("'\"")
    return spec


def _csv(columns: tuple[Column, ...], rows: list[tuple[Any, ...]]) -> str:
    """The result as MaxCompute writes it for ?result: a header line, then one line a row, NULL as \\N."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in columns])
    whole_seconds = [column.column_type.base == "datetime" for column in columns]
    for row in rows:
        writer.writerow([_csv_value(value, seconds) for value, seconds in zip(row, whole_seconds)])
    return buffer.getvalue()


def _csv_value(value: Any, whole_seconds: bool) -> str:
    if value is None:
        return NULL_TOKEN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # a datetime as MaxCompute prints it, which is what pyodps parses
        return value.strftime("%Y-%m-%d %H:%M:%S") if whole_seconds else value.isoformat(sep=" ")
    if isinstance(value, (date, Decimal, float, int)):
        return str(value)
    return str(value)  # pyodps unescapes the whole text itself, backslashes included


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise invalid_argument(f"{name} must be an integer between {low} and {high}.")
    return int(text)


def _add(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _xml(root: ET.Element) -> Response:
    body = XML_DECLARATION + ET.tostring(root, encoding="unicode")
    return Response(body.encode("utf-8"), content_type=XML_CONTENT_TYPE)


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def _text(text: str) -> Response:
    return Response(text, content_type="text/plain")


def _empty(status: int, headers: Optional[Mapping[str, str]] = None) -> Response:
    response = Response(b"", status=status, headers=dict(headers or {}))
    response.headers.pop("Content-Type", None)
    return response


def _http_date(epoch: float) -> str:
    return formatdate(int(epoch), usegmt=True)

