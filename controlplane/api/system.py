"""SystemService servicer."""

from __future__ import annotations

import base64

import grpc

from controlplane.api import validation
from controlplane.api.status import rpc
from controlplane.errors import InvalidArgument
from controlplane.system import System
from elizaos.v1 import system_service_pb2 as pb
from elizaos.v1 import system_service_pb2_grpc


class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    """elizaos.v1.SystemService."""

    def __init__(self, system: System) -> None:
        self._system = system

    @rpc
    async def GetSystemStatus(self, request: pb.GetSystemStatusRequest,
                              context: grpc.aio.ServicerContext) -> pb.GetSystemStatusResponse:
        return self._system.status()

    @rpc
    async def CheckHealth(self, request: pb.CheckHealthRequest,
                          context: grpc.aio.ServicerContext) -> pb.CheckHealthResponse:
        return await self._system.health()

    @rpc
    async def ListHosts(self, request: pb.ListHostsRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListHostsResponse:
        v = validation.Violations()
        size = validation.page_size(v, request.page_size)
        after = ""
        if request.page_token:
            try:
                after = base64.urlsafe_b64decode(request.page_token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                v.add("page_token", "is not a token returned by a previous ListHosts")
        v.raise_if_any()
        hosts = [h for h in self._system.hosts() if h.id > after]
        page = hosts[:size]
        token = base64.urlsafe_b64encode(page[-1].id.encode()).decode() if len(hosts) > size else ""
        return pb.ListHostsResponse(hosts=page, next_page_token=token)

    @rpc
    async def Reset(self, request: pb.ResetRequest, context: grpc.aio.ServicerContext
                    ) -> pb.ResetResponse:
        if not request.confirm:
            raise InvalidArgument([("confirm", "must be true: Reset deletes every agent, memory and event")])
        return pb.ResetResponse(deleted_agents=await self._system.reset())
