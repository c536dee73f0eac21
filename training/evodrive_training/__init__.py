"""evodrive training side: data, synthetic world, models, distillation, export (torch allowed here)."""
