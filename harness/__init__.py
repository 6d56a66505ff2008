"""What the tests and the bench share to run the system on the local stack (`make stack-start`):
where its servers listen, and throwaway vhosts and databases on them. Development code only: no
service imports it, and no image contains it."""
