import attrs

from melange import Consumer, Subscription, consumer
from melange.app.filter_keys import unsupplied_filter_keys
from melange.app.topology import derive_topology
from melange.exceptions import DeclarationError

try:

    class VipDesk(Consumer):
        subscription = Subscription("vip", topics=["members"], filter_policy={"tier": [["vip"]]})

except DeclarationError as exc:
    print(f"DeclarationError: {exc}")


@attrs.frozen
class MembershipRenewed:
    member_id: str
    tier: str

    def melange_attributes(self) -> dict[str, str]:
        return {"tier": self.tier}


class GoldDesk(Consumer):
    subscription = Subscription("gold", topics=["members"], filter_policy={"teir": ["gold"]})

    @consumer
    def on_renewal(self, event: MembershipRenewed) -> None: ...


for found in unsupplied_filter_keys(derive_topology([GoldDesk()])):
    print(f"WARNING {found}")
