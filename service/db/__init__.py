"""The RPC port: every database write the service makes is one call of a `public.ob_*` function."""

from service.db.port import DatabaseUnavailable, Rpc, RpcError

__all__ = ["DatabaseUnavailable", "Rpc", "RpcError"]
