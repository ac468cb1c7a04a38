"""Runs the agents placed on this host, one AgentRuntime each, fenced by epoch.

A command carrying an older epoch than the one the host knows for that agent is dropped, so
an agent moved elsewhere is never brought back by a late command. Global plugins (loaded by
LoadPlugin) are added to every runtime, present and future.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace

from agenthost.runtime.runtime import TRACER, AgentRuntime, RuntimeFailure, record_failure
from controlplane import telemetry
from elizaos._plugin import Plugin
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_pb2

log = logging.getLogger(__name__)
S = agent_pb2
PLUGIN_INIT_TIMEOUT = 10.0

Resolver = Callable[[Sequence[str]], list[Plugin]]


def _default_resolver(refs: Sequence[str]) -> list[Plugin]:
    from agenthost.plugins.loader import load_order

    return load_order(refs)


def _default_resolve_one(ref: str) -> Plugin:
    from agenthost.plugins.loader import resolve

    return resolve(ref)


class Supervisor:
    """The agents of this host and their epochs."""

    def __init__(
        self,
        *,
        memory_window: int = 64,
        resolve: Resolver = _default_resolver,
        resolve_one: Callable[[str], Plugin] = _default_resolve_one,
        services: Callable[[str], Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.runtimes: dict[str, AgentRuntime] = {}
        self.epochs: dict[str, int] = {}
        self.in_flight = 0
        # Registered name -> (ref, config, the plugin's own name); the names may differ.
        self.global_plugins: dict[str, tuple[str, Mapping[str, Any], str]] = {}
        self._window = memory_window
        self._resolve = resolve
        self._resolve_one = resolve_one
        self._services = services
        self._defaults = defaults or {}

    def running(self) -> list[pb.RunningAgent]:
        """What to re-report in Hello after a reconnect."""
        return [pb.RunningAgent(agent_id=i, epoch=r.epoch, status=S.AGENT_STATUS_RUNNING)
                for i, r in self.runtimes.items()]

    async def start(self, command: pb.StartAgent) -> pb.AgentStatusReport | None:
        """Start (or restart at a newer epoch) an agent; None when the command is stale.

        Traced as "agent.start", a child of the context the control plane put in the command."""
        if not telemetry.tracing_installed():
            return await self._start(command, trace.INVALID_SPAN)
        with telemetry.tracer(TRACER).start_as_current_span(
            "agent.start", context=telemetry.extract(command.trace_context), kind=trace.SpanKind.CONSUMER,
            attributes={telemetry.AGENT_ID: command.agent.id, telemetry.AGENT_EPOCH: command.epoch},
        ) as span:
            report = await self._start(command, span)
            if span.is_recording():
                if report is None:
                    span.set_attribute("elizaos.stale", True)
                elif report.status == S.AGENT_STATUS_ERROR:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, report.error))
            return report

    async def _start(self, command: pb.StartAgent, span: trace.Span) -> pb.AgentStatusReport | None:
        agent_id, epoch = command.agent.id, command.epoch
        known = self.epochs.get(agent_id, 0)
        if epoch < known:
            log.info("event=stale_start_dropped agent=%s epoch=%d known=%d", agent_id, epoch, known)
            return None
        current = self.runtimes.get(agent_id)
        if current is not None and current.epoch == epoch:
            return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_RUNNING)
        self.epochs[agent_id] = epoch
        refs = list(dict.fromkeys([*command.agent.plugins, *(g[0] for g in self.global_plugins.values())]))
        if span.is_recording():
            span.set_attribute(telemetry.PLUGINS, refs)
        try:
            runtime = AgentRuntime(command.agent, epoch, command.memories, window=self._window,
                                   cache=dict(command.cache), services=self._services, defaults=self._defaults)
            for plugin in self._configured(self._resolve(refs)):
                try:
                    await asyncio.wait_for(runtime.add_plugin(plugin), PLUGIN_INIT_TIMEOUT)
                except TimeoutError:
                    raise RuntimeFailure(f"plugin {plugin.name!r} did not initialise within "
                                         f"{PLUGIN_INIT_TIMEOUT:g}s") from None
                except Exception as exc:
                    raise RuntimeFailure(f"plugin {plugin.name!r} failed to initialise: "
                                         f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            if self.epochs.get(agent_id) != epoch:
                return None  # superseded while starting
            self.runtimes.pop(agent_id, None)
            message = str(exc) if isinstance(exc, RuntimeFailure) else f"{type(exc).__name__}: {exc}"
            log.warning("event=agent_start_failed agent=%s error=%s", agent_id, message)
            record_failure(span, exc)
            return pb.AgentStatusReport(agent_id=agent_id, epoch=epoch, status=S.AGENT_STATUS_ERROR, error=message)
        if self.epochs.get(agent_id) != epoch:
            return None  # a newer start or a stop arrived while plugins initialised
        self.runtimes[agent_id] = runtime
        log.info("event=agent_started agent=%s epoch=%d plugins=%s", agent_id, epoch, ",".join(runtime.plugins))
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

    def _configured(self, plugins: list[Plugin]) -> list[Plugin]:
        """Apply the config a global registration gave over each plugin's own defaults."""
        configs = {plugin_name: config for _, config, plugin_name in self.global_plugins.values() if config}
        return [dataclasses.replace(p, config={**p.config, **configs[p.name]}) if p.name in configs else p
                for p in plugins]

    async def load_plugin(self, name: str, ref: str, config: Mapping[str, Any] | None = None
                          ) -> list[tuple[str, str]]:
        """Add a global plugin to every runtime; returns (agent id, error) for agents it failed on."""
        target = self._resolve_one(ref or name)
        resolved = self._resolve([ref or name])
        self.global_plugins[name] = (ref or name, dict(config or {}), target.name)
        plugins = self._configured(resolved)
        failures: list[tuple[str, str]] = []
        for agent_id, runtime in list(self.runtimes.items()):
            for plugin in plugins:
                try:
                    await asyncio.wait_for(runtime.add_plugin(plugin), PLUGIN_INIT_TIMEOUT)
                except Exception as exc:
                    failures.append((agent_id, f"plugin {plugin.name!r} failed to initialise: "
                                               f"{type(exc).__name__}: {exc}"))
        log.info("event=plugin_loaded plugin=%s agents=%d failures=%d", name, len(self.runtimes), len(failures))
        return failures

    def unload_plugin(self, name: str) -> int:
        """Remove a global plugin from every runtime; returns how many used it."""
        registered = self.global_plugins.pop(name, None)
        plugin_name = registered[2] if registered is not None else name
        removed = sum(runtime.remove_plugin(plugin_name) for runtime in self.runtimes.values()
                      if plugin_name not in runtime.own_plugins)
        log.info("event=plugin_unloaded plugin=%s agents=%d", name, removed)
        return removed

    async def deliver(self, command: pb.DeliverMessage) -> pb.MessageReply:
        """Answer one message through the agent's pipeline, within the command's deadline.

        Traced as "agent.process_message", a child of the control plane's span of the request
        (its context travels in the command); the pipeline's steps are its children."""
        if not telemetry.tracing_installed():
            return await self._deliver(command, trace.INVALID_SPAN)  # no span work at all
        with telemetry.tracer(TRACER).start_as_current_span(
            "agent.process_message", context=telemetry.extract(command.trace_context), kind=trace.SpanKind.SERVER,
            attributes={telemetry.AGENT_ID: command.agent_id, telemetry.AGENT_EPOCH: command.epoch,
                        telemetry.ROOM_ID: command.room_id},
        ) as span:
            reply = await self._deliver(command, span)
            if span.is_recording():
                span.set_attribute(telemetry.ACTIONS, list(reply.actions))
                if reply.error_code:
                    span.set_attribute(telemetry.REPLY_ERROR, pb.ReplyErrorCode.Name(reply.error_code))
                    span.set_status(trace.Status(trace.StatusCode.ERROR, reply.error))
            return reply

    async def _deliver(self, command: pb.DeliverMessage, span: trace.Span) -> pb.MessageReply:
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
        except TimeoutError as exc:
            reply.error_code = pb.REPLY_ERROR_CODE_DEADLINE_EXCEEDED
            reply.error = "the agent did not answer before the deadline"
            record_failure(span, exc)
            return reply
        except Exception as exc:
            log.warning("event=agent_message_failed agent=%s error=%s", command.agent_id, exc)
            reply.error_code = pb.REPLY_ERROR_CODE_AGENT_FAILED
            reply.error = str(exc) if isinstance(exc, RuntimeFailure) else f"{type(exc).__name__}: {exc}"
            record_failure(span, exc)
            return reply
        finally:
            self.in_flight -= 1
        reply.text = result.text
        reply.actions.extend(result.actions)
        reply.memories.extend(result.memories)
        for key, value in result.cache_updates.items():
            if value is None:
                reply.cache_delete.append(key)
            else:
                reply.cache_set[key] = value
        return reply

    def stop_all(self, reason: str) -> list[pb.AgentStatusReport]:
        """Stop every agent (host shutting down); reports to send before leaving."""
        reports = [pb.AgentStatusReport(agent_id=i, epoch=r.epoch, status=S.AGENT_STATUS_STOPPED, error=reason)
                   for i, r in self.runtimes.items()]
        self.runtimes.clear()
        return reports
