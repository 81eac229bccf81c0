"""Drives hashrig's cgminer API with pyasic's cgminer client (pyasic.rpc.cgminer), a client
written for cgminer, not for hashrig. Prints every answer as one JSON object.

usage: python cgminer_client.py PORT
"""
import asyncio
import json
import sys

from pyasic.errors import APIError
from pyasic.rpc.cgminer import CGMinerRPCAPI


async def main(port: int) -> None:
    api = CGMinerRPCAPI("127.0.0.1", port=port)
    out = {}
    for command in ["version", "config", "summary", "devs", "pools"]:
        out[command] = await getattr(api, command)()
    out["multicommand"] = await api.multicommand("summary", "devs", "pools")
    try:
        await api.quit()
        out["quit"] = "answered"
    except APIError as e:
        out["quit"] = str(e)
    print(json.dumps(out))


asyncio.run(main(int(sys.argv[1])))
