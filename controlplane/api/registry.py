"""RegistryService servicer."""

from __future__ import annotations

import grpc

from controlplane.api import validation
from controlplane.api.status import rpc
from controlplane.registry import GlobalServices
from elizaos.v1 import registry_service_pb2 as pb
from elizaos.v1 import registry_service_pb2_grpc


class RegistryServicer(registry_service_pb2_grpc.RegistryServiceServicer):
    """elizaos.v1.RegistryService."""

    def __init__(self, services: GlobalServices) -> None:
        self._services = services

    @rpc
    async def RegisterGlobalService(self, request: pb.RegisterGlobalServiceRequest,
                                    context: grpc.aio.ServicerContext) -> pb.RegisterGlobalServiceResponse:
        return pb.RegisterGlobalServiceResponse(service=await self._services.register(request.service))

    @rpc
    async def UnregisterGlobalService(self, request: pb.UnregisterGlobalServiceRequest,
                                      context: grpc.aio.ServicerContext) -> pb.UnregisterGlobalServiceResponse:
        v = validation.Violations()
        v.name("name", request.name)
        v.raise_if_any()
        await self._services.unregister(request.name)
        return pb.UnregisterGlobalServiceResponse()

    @rpc
    async def GetGlobalService(self, request: pb.GetGlobalServiceRequest,
                               context: grpc.aio.ServicerContext) -> pb.GetGlobalServiceResponse:
        v = validation.Violations()
        v.name("name", request.name)
        v.raise_if_any()
        return pb.GetGlobalServiceResponse(service=await self._services.get(request.name))

    @rpc
    async def ListGlobalServices(self, request: pb.ListGlobalServicesRequest,
                                 context: grpc.aio.ServicerContext) -> pb.ListGlobalServicesResponse:
        page, token = validation.page_by_name(self._services.list(), request.page_size, request.page_token,
                                              lambda s: s.name)
        return pb.ListGlobalServicesResponse(services=page, next_page_token=token)
