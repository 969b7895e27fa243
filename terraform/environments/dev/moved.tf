# The modules were called from this root until they moved into ../../stack: their state moves with them (no
# destroy/create). These blocks can go once every state of this environment has been applied with them.

moved {
  from = module.project
  to   = module.stack.module.project
}

moved {
  from = module.storage
  to   = module.stack.module.storage
}

moved {
  from = module.data
  to   = module.stack.module.data
}

moved {
  from = module.cdn
  to   = module.stack.module.cdn
}

moved {
  from = module.functions
  to   = module.stack.module.functions
}

moved {
  from = module.edge
  to   = module.stack.module.edge
}

moved {
  from = module.observability
  to   = module.stack.module.observability
}
