"""SystemService servicer."""

from __future__ import annotations

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
        return await self._system.status()

    @rpc
    async def CheckHealth(self, request: pb.CheckHealthRequest,
                          context: grpc.aio.ServicerContext) -> pb.CheckHealthResponse:
        return await self._system.health()

    @rpc
    async def ListHosts(self, request: pb.ListHostsRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListHostsResponse:
        page, token = validation.page_by_name(self._system.hosts(), request.page_size, request.page_token,
                                              lambda h: h.id)
        return pb.ListHostsResponse(hosts=page, next_page_token=token)

    @rpc
    async def Reset(self, request: pb.ResetRequest, context: grpc.aio.ServicerContext
                    ) -> pb.ResetResponse:
        if not request.confirm:
            raise InvalidArgument([("confirm", "must be true: Reset deletes every agent, memory and event")])
        return pb.ResetResponse(deleted_agents=await self._system.reset())
