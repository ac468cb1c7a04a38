"""Runs the agents placed on this host, one AgentRuntime each, fenced by epoch.

A command carrying an older epoch than the one the host knows for that agent is dropped, so
an agent moved elsewhere is never brought back by a late command.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agenthost.runtime.runtime import AgentRuntime
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_pb2

log = logging.getLogger(__name__)
S = agent_pb2


class Supervisor:
    """The agents of this host and their epochs."""

    def __init__(self, *, memory_window: int = 64) -> None:
        self.runtimes: dict[str, AgentRuntime] = {}
        self.epochs: dict[str, int] = {}
        self.in_flight = 0
        self._window = memory_window

    def running(self) -> list[pb.RunningAgent]:
        """What to re-report in Hello after a reconnect."""
        return [pb.RunningAgent(agent_id=i, epoch=r.epoch, status=S.AGENT_STATUS_RUNNING)
                for i, r in self.runtimes.items()]

    def start(self, command: pb.StartAgent) -> pb.AgentStatusReport | None:
        """Start (or restart at a newer epoch) an agent; None when the command is stale."""
        agent_id, epoch = command.agent.id, command.epoch
        known = self.epochs.get(agent_id, 0)
        if epoch < known:
            log.info("event=stale_start_dropped agent=%s epoch=%d known=%d", agent_id, epoch, known)
            return None
        current = self.runtimes.get(agent_id)
        if current is not None and current.epoch == epoch:
            return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_RUNNING)
        self.epochs[agent_id] = epoch
        try:
            self.runtimes[agent_id] = AgentRuntime(command.agent, epoch, command.memories, window=self._window)
        except Exception as exc:
            self.runtimes.pop(agent_id, None)
            log.warning("event=agent_start_failed agent=%s error=%r", agent_id, exc)
            return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_ERROR,
                                        error=f"runtime failed to start: {exc}")
        log.info("event=agent_started agent=%s epoch=%d", agent_id, epoch)
        return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_RUNNING)

    def stop(self, command: pb.StopAgent) -> pb.AgentStatusReport | None:
        """Stop an agent; None when the command is stale."""
        agent_id, epoch = command.agent_id, command.epoch
        if epoch < self.epochs.get(agent_id, 0):
            return None
        self.runtimes.pop(agent_id, None)
        self.epochs[agent_id] = epoch
        log.info("event=agent_stopped agent=%s epoch=%d", agent_id, epoch)
        return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_STOPPED)

    async def deliver(self, command: pb.DeliverMessage) -> pb.MessageReply:
        """Answer one message through the agent's pipeline, within the command's deadline."""
        reply = pb.MessageReply(correlation_id=command.correlation_id, agent_id=command.agent_id,
                                epoch=command.epoch)
        runtime = self.runtimes.get(command.agent_id)
        if runtime is None or runtime.epoch != command.epoch:
            reply.error_code = pb.REPLY_ERROR_CODE_AGENT_NOT_RUNNING
            reply.error = "agent is not running on this host"
            return reply
        timeout = None
        if command.HasField("deadline"):
            timeout = max(command.deadline.ToNanoseconds() / 1e9 - time.time(), 0.001)
        self.in_flight += 1
        try:
            result = await asyncio.wait_for(
                runtime.process_message(command.text, command.user_id, command.room_id), timeout)
        except TimeoutError:
            reply.error_code = pb.REPLY_ERROR_CODE_DEADLINE_EXCEEDED
            reply.error = "the agent did not answer before the deadline"
            return reply
        except Exception as exc:
            log.warning("event=agent_message_failed agent=%s error=%r", command.agent_id, exc)
            reply.error_code = pb.REPLY_ERROR_CODE_AGENT_FAILED
            reply.error = f"{type(exc).__name__}: {exc}"
            return reply
        finally:
            self.in_flight -= 1
        reply.text = result.text
        reply.actions.extend(result.actions)
        reply.memories.extend(result.memories)
        return reply

    def stop_all(self, reason: str) -> list[pb.AgentStatusReport]:
        """Stop every agent (host shutting down); reports to send before leaving."""
        reports = [pb.AgentStatusReport(agent_id=i, epoch=r.epoch, status=S.AGENT_STATUS_STOPPED, error=reason)
                   for i, r in self.runtimes.items()]
        self.runtimes.clear()
        return reports
