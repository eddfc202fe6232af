"""boto3 clients per identity: cached across invocations, bounded, never shared between identities."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector.auth import ROLE, Identity
from connector.config import Settings
from connector.timestream import fast_json, pages

if TYPE_CHECKING:
    from mypy_boto3_timestream_query import TimestreamQueryClient
    from mypy_boto3_timestream_write import TimestreamWriteClient


# How Timestream's side (CloudTrail, support) tells this connector's calls from other clients'.
USER_AGENT_PRODUCT = "prometheus-timestream-connector/0.1"


class ClientCache:
    """Least-recently-used cache of (write, query) clients keyed by the full key pair.

    Keying by the secret too means a rotated or wrong secret never reuses a client built for another.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._botocore_session: Any = None

    def write_client(self, identity: Identity) -> TimestreamWriteClient:
        return self._get(identity, "timestream-write")  # type: ignore[no-any-return]

    def query_client(self, identity: Identity) -> TimestreamQueryClient:
        return self._get(identity, "timestream-query")  # type: ignore[no-any-return]

    def _get(self, identity: Identity, service: str) -> Any:
        key = (identity.access_key_id, identity.secret_access_key, service)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = self._build(identity, service)
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > self._settings.client_cache_size * 2:
                self._clients.popitem(last=False)
        return client

    def _build(self, identity: Identity, service: str) -> Any:
        """A client signed with exactly ``identity``'s keys (or the role's, in SigV4 mode)."""
        from botocore.config import Config

        settings = self._settings
        config = Config(
            region_name=settings.region,
            connect_timeout=min(settings.call_timeout, 5.0),
            read_timeout=settings.call_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},  # the writer retries within the deadline
            max_pool_connections=max(10, settings.write_concurrency),
            parameter_validation=False,  # records are built well-formed here; validation costs CPU
            tcp_keepalive=True,
            # A fixed User-Agent: botocore otherwise rebuilds it from a dozen components on every
            # call, which cost more CPU than signing the call.
            user_agent=self._user_agent(),
        )
        keys: dict[str, Any] = {}
        if identity is not ROLE:
            # Explicit keys: botocore uses exactly these and never consults env, profile or role.
            keys = {
                "aws_access_key_id": identity.access_key_id,
                "aws_secret_access_key": identity.secret_access_key,
                "aws_session_token": None,
            }
        endpoint = settings.write_endpoint if service == "timestream-write" else settings.query_endpoint
        with self._lock:  # botocore sessions are not thread-safe; creating clients is rare
            client = self._session().create_client(
                service, region_name=settings.region, endpoint_url=endpoint, config=config, **keys
            )
        if service != "timestream-write":
            return pages.install(client)
        # Imported with the first client, as botocore is: http.client and ssl cost ~20 ms to import.
        from connector.timestream.write_transport import TransportWriteClient, WriteRecordsTransport, proxy_configured

        client = fast_json.install(client)
        if proxy_configured(endpoint or client.meta.endpoint_url):
            return client
        transport = WriteRecordsTransport(
            client,
            self._credentials(identity),
            settings.region,
            endpoint,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            user_agent=config.user_agent,
        )
        return TransportWriteClient(client, transport)

    def _credentials(self, identity: Identity) -> Callable[[], Any]:
        """What signs ``identity``'s writes: exactly its keys, or the role's current credentials."""
        if identity is ROLE:
            with self._lock:
                source = self._session().get_credentials()
            if source is None:  # as botocore's client does: the call fails, the client does not
                return _no_credentials
            return source.get_frozen_credentials  # type: ignore[no-any-return]
        from botocore.credentials import Credentials

        keys = Credentials(identity.access_key_id, identity.secret_access_key).get_frozen_credentials()
        return lambda: keys

    def _user_agent(self) -> str:
        return f"{self._session().user_agent()} {USER_AGENT_PRODUCT}"

    def _session(self) -> Any:
        """One botocore session: its loaded service models and endpoints serve every client.

        botocore rather than boto3: boto3 adds nothing these clients use and ~90 ms of imports.
        """
        if self._botocore_session is None:
            import botocore.session

            self._botocore_session = botocore.session.get_session()
        return self._botocore_session


def _no_credentials() -> Any:
    from botocore.exceptions import NoCredentialsError

    raise NoCredentialsError()
