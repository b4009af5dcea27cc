from examples.orders import consumers, partners, service
from examples.orders.app import OrdersBindingSpec
from melange import Application
from melange_bindings import new_object_graph

objects = new_object_graph(
    modules=[consumers, partners, service],  # every class they hold, by name
    binding_specs=[OrdersBindingSpec()],
)
app = objects.provide(Application)
print(f"the application consumes {', '.join(app.queue_names)}")
