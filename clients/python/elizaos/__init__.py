"""ElizaOS: Python SDK and CLI of the ElizaOS gRPC control plane.

Generated protobuf/gRPC modules live in `elizaos.v1` (public API) and `elizaos.host.v1`
(host link); this package re-exports the hand-written client surface.
"""

from elizaos._character import CharacterError, character_from_dict, load_character
from elizaos._client import DEFAULT_TARGET, ElizaOSClient, parse_status
from elizaos._elizaos import ElizaOS, RemoteRuntime, Reply
from elizaos._errors import ElizaOSError, FieldViolation
from elizaos._plugin import (
    Action,
    ActionResult,
    AgentRuntimeAPI,
    Evaluator,
    Message,
    ModelRegistration,
    ModelRequest,
    ModelResponse,
    ModelType,
    Plugin,
    Provider,
    ProviderResult,
    Service,
    ServiceContext,
    State,
)

__all__ = [
    "DEFAULT_TARGET",
    "Action",
    "ActionResult",
    "AgentRuntimeAPI",
    "CharacterError",
    "ElizaOS",
    "ElizaOSClient",
    "ElizaOSError",
    "Evaluator",
    "FieldViolation",
    "Message",
    "ModelRegistration",
    "ModelRequest",
    "ModelResponse",
    "ModelType",
    "Plugin",
    "Provider",
    "ProviderResult",
    "RemoteRuntime",
    "Reply",
    "Service",
    "ServiceContext",
    "State",
    "character_from_dict",
    "load_character",
    "parse_status",
]
