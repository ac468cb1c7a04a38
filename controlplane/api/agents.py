"""AgentService servicer: validate, call the domain, convert."""

from __future__ import annotations

import base64

import grpc

from controlplane.agents import Agents
from controlplane.api import validation
from controlplane.api.status import rpc
from controlplane.config import Config
from elizaos.v1 import agent_pb2, agent_service_pb2_grpc
from elizaos.v1 import agent_service_pb2 as pb


class AgentServicer(agent_service_pb2_grpc.AgentServiceServicer):
    """elizaos.v1.AgentService."""

    def __init__(self, agents: Agents, config: Config) -> None:
        self._agents = agents
        self._config = config

    @rpc
    async def CreateAgent(self, request: pb.CreateAgentRequest, context: grpc.aio.ServicerContext
                          ) -> pb.CreateAgentResponse:
        v = validation.create_agent(request.character, list(request.plugins), request.pool, request.resources,
                                    request.request_id)
        wait = validation.wait_seconds(v, "wait_timeout", request.wait_timeout)
        v.raise_if_any()
        agent = await self._agents.create(
            character=request.character, plugins=list(request.plugins), auto_start=request.auto_start,
            pool=request.pool, resources=request.resources, request_id=request.request_id, wait=wait)
        return pb.CreateAgentResponse(agent=agent)

    @rpc
    async def GetAgent(self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext
                       ) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(agent=await self._agents.get(validation.agent_id(request.agent_id)))

    @rpc
    async def ListAgents(self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext
                         ) -> pb.ListAgentsResponse:
        v = validation.Violations()
        size = validation.page_size(v, request.page_size)
        v.name("pool", request.pool, required=False)
        v.name("host_id", request.host_id, required=False)
        if request.status not in agent_pb2.AgentStatus.values():
            v.add("status", f"unknown status {request.status}")
        v.raise_if_any()
        agents, token = await self._agents.page(page_size=size, page_token=request.page_token,
                                                status=request.status, pool=request.pool, host_id=request.host_id)
        return pb.ListAgentsResponse(agents=agents, next_page_token=token)

    @rpc
    async def StartAgent(self, request: pb.StartAgentRequest, context: grpc.aio.ServicerContext
                         ) -> pb.StartAgentResponse:
        v = validation.Violations()
        agent_id = v.uuid("agent_id", request.agent_id)
        wait = validation.wait_seconds(v, "wait_timeout", request.wait_timeout)
        v.raise_if_any()
        return pb.StartAgentResponse(agent=await self._agents.start(agent_id, wait))

    @rpc
    async def StopAgent(self, request: pb.StopAgentRequest, context: grpc.aio.ServicerContext
                        ) -> pb.StopAgentResponse:
        v = validation.Violations()
        agent_id = v.uuid("agent_id", request.agent_id)
        wait = validation.wait_seconds(v, "wait_timeout", request.wait_timeout)
        v.raise_if_any()
        return pb.StopAgentResponse(agent=await self._agents.stop(agent_id, wait))

    @rpc
    async def DeleteAgent(self, request: pb.DeleteAgentRequest, context: grpc.aio.ServicerContext
                          ) -> pb.DeleteAgentResponse:
        await self._agents.delete(validation.agent_id(request.agent_id))
        return pb.DeleteAgentResponse()

    @rpc
    async def SendMessage(self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
                          ) -> pb.SendMessageResponse:
        v = validation.Violations()
        agent_id = v.uuid("agent_id", request.agent_id)
        validation.message(v, request.text, self._config.server.max_message_bytes)
        user_id = request.user_id or "user"
        room_id = request.room_id or "default"
        v.name("user_id", user_id)
        v.name("room_id", room_id)
        v.raise_if_any()
        remaining = context.time_remaining()
        timeout = self._config.server.message_timeout_seconds
        if remaining is not None:
            timeout = min(timeout, remaining)
        reply = await self._agents.send_message(agent_id=agent_id, text=request.text, user_id=user_id,
                                                room_id=room_id, timeout=timeout)
        reply_id = reply.memories[-1].id if reply.memories else ""
        return pb.SendMessageResponse(text=reply.text, actions=list(reply.actions), agent_id=agent_id,
                                      message_id=reply_id, room_id=room_id)

    @rpc
    async def ListMemories(self, request: pb.ListMemoriesRequest, context: grpc.aio.ServicerContext
                           ) -> pb.ListMemoriesResponse:
        v = validation.Violations()
        agent_id = v.uuid("agent_id", request.agent_id)
        room_id = request.room_id or "default"
        v.name("room_id", room_id)
        size = validation.page_size(v, request.page_size)
        after = 0
        if request.page_token:
            try:
                after = int(base64.urlsafe_b64decode(request.page_token.encode()).decode())
            except (ValueError, UnicodeDecodeError):
                v.add("page_token", "is not a token returned by a previous ListMemories")
        v.raise_if_any()
        memories = [m for m in await self._agents.memories(agent_id, room_id) if m.sequence > after]
        page = memories[:size]
        token = base64.urlsafe_b64encode(str(page[-1].sequence).encode()).decode() if len(memories) > size else ""
        return pb.ListMemoriesResponse(memories=page, next_page_token=token)
