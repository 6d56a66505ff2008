"""What the tests and the bench share to run the system on the local stack (`make stack-start`):
the stack itself under supervisord, where its servers listen, the services as processes, and
throwaway vhosts and databases. Development code only: no service imports it, and no image
contains it."""
