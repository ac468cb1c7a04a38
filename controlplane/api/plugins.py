"""PluginService servicer."""

from __future__ import annotations

import grpc

from controlplane.api import validation
from controlplane.api.status import rpc
from controlplane.plugins import MAX_CONFIG_BYTES, GlobalPlugins, check_ref
from elizaos.v1 import plugin_service_pb2 as pb
from elizaos.v1 import plugin_service_pb2_grpc


class PluginServicer(plugin_service_pb2_grpc.PluginServiceServicer):
    """elizaos.v1.PluginService."""

    def __init__(self, plugins: GlobalPlugins) -> None:
        self._plugins = plugins

    @rpc
    async def RegisterGlobalPlugin(self, request: pb.RegisterGlobalPluginRequest,
                                   context: grpc.aio.ServicerContext) -> pb.RegisterGlobalPluginResponse:
        v = validation.Violations()
        v.name("name", request.name)
        if request.ref:
            v.check(lambda: check_ref("ref", request.ref))
        if request.config.ByteSize() > MAX_CONFIG_BYTES:
            v.add("config", f"must be at most {MAX_CONFIG_BYTES} bytes")
        v.raise_if_any()
        plugin = await self._plugins.register(request.name, request.ref, request.config)
        return pb.RegisterGlobalPluginResponse(plugin=plugin)

    @rpc
    async def UnregisterGlobalPlugin(self, request: pb.UnregisterGlobalPluginRequest,
                                     context: grpc.aio.ServicerContext) -> pb.UnregisterGlobalPluginResponse:
        v = validation.Violations()
        v.name("name", request.name)
        v.raise_if_any()
        await self._plugins.unregister(request.name)
        return pb.UnregisterGlobalPluginResponse()

    @rpc
    async def GetPlugin(self, request: pb.GetPluginRequest,
                        context: grpc.aio.ServicerContext) -> pb.GetPluginResponse:
        v = validation.Violations()
        v.name("name", request.name)
        v.raise_if_any()
        return pb.GetPluginResponse(plugin=await self._plugins.get(request.name))

    @rpc
    async def ListPlugins(self, request: pb.ListPluginsRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListPluginsResponse:
        page, token = validation.page_by_name(self._plugins.list(), request.page_size, request.page_token,
                                              lambda p: p.name)
        return pb.ListPluginsResponse(plugins=page, next_page_token=token)
